"""The terms of the step loss, each a named part with its own settings (SDTrainer sums them).

`SDTrainer.compute` does the step's shared work once: sigmas, noise, item modes (image-to-
video's clean first frame, the directions, audio-only items: toolkit/train/item_modes.py),
one forward pass, the per-item losses of each modality against the flow target and their
means over the scored items. It hands that to each term as a `LossStep`; a term returns its
weighted part of the total (a graph-carrying 0-d tensor, or None when it adds nothing this
step) and its metrics, and the trainer adds the parts in `LOSS_TERMS`' order:

    video                 the scored video loss
    audio                 audio_multiplier x the scored raw audio loss (the balancer, SOP A/B/AQ)
    audio_preservation    multiplier x the audio loss of items without audio (SOP E): toward
                          silence, or toward the base model's own prediction
    dop                   multiplier x (video + audio) differential output preservation (SOP X)

A new term: a `LossTerm` subclass with its settings dataclass (fields named as their train
keys, each default `config_field("train.<key>")`), the settings class among `LossSettings`'
bases and the term in `LOSS_TERMS` (SDTrainer.py). The run fills LossSettings from the train
section by field name; each term is handed only its own fields.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch

from toolkit.configuration.defaults import config_field
from toolkit.data_transfer_object.data_loader import TrainBatch
from toolkit.processes.distributed import DistContext
from toolkit.train.audio_balance import AudioLossBalancer
from toolkit.train.item_modes import ItemModes
from toolkit.train.scoring import ScoredCounts

PSEUDO_HUBER_C = 0.03


def elementwise_loss(pred: torch.Tensor, target: torch.Tensor, loss_type: str) -> torch.Tensor:
    diff = pred.float() - target.float()
    if loss_type == "mse":
        return diff.square()
    if loss_type == "mae":
        return diff.abs()
    if loss_type == "pseudo_huber":
        return torch.sqrt(diff.square() + PSEUDO_HUBER_C**2) - PSEUDO_HUBER_C
    raise ValueError(f"unknown loss_type {loss_type}")


def per_item(loss: torch.Tensor) -> torch.Tensor:
    """Mean over everything but the batch dimension: (B, ...) -> (B,)."""
    return loss.reshape(loss.shape[0], -1).mean(dim=1)


def scored_mean(values: torch.Tensor, scored: torch.Tensor) -> torch.Tensor | None:
    """Mean of (B,) `values` over the scored items (None when none is); the plain mean when
    every item is scored, so a joint batch computes exactly what it always did."""
    if bool(scored.all()):
        return values.mean()
    if not bool(scored.any()):
        return None
    return values[scored.to(values.device)].mean()


def per_item_video(loss: torch.Tensor, clean_frames: torch.Tensor | None) -> torch.Tensor:
    """Per-item mean of a (B, C, F', H', W') video loss over the frames that were noised;
    latent frames marked in clean_frames (B, F') (an image-to-video condition) count for nothing."""
    if clean_frames is None:
        return per_item(loss)
    keep = (~clean_frames).to(loss.dtype)[:, None, :, None, None].expand_as(loss)
    total = (loss * keep).reshape(loss.shape[0], -1).sum(dim=1)
    return total / keep.reshape(loss.shape[0], -1).sum(dim=1).clamp_min(1.0)


@dataclass
class LossStep:
    """What a step computed once, for every term to read (made by SDTrainer.compute)."""

    batch: TrainBatch
    modes: ItemModes
    clean: torch.Tensor | None  # (B, F') image-to-video's clean latent frame 0; None: no such item
    loss_type: str
    zero: torch.Tensor  # a 0-d zero on the step's device
    supervised: torch.Tensor  # (B,) items trained with their own audio (the others train on silence)
    video_items: torch.Tensor  # (B,) per-item video loss vs the flow target (clean frames left out)
    audio_items: torch.Tensor  # (B,) per-item audio loss vs the flow target
    counts: ScoredCounts
    video_loss: torch.Tensor | None  # the weighted mean over this rank's scored items; None: none here
    audio_loss: torch.Tensor | None  # the same for the audio (raw: before any multiplier)
    audio_pred: torch.Tensor | None  # the step's audio prediction, kept only while a term reads it
    # (prompt, network on) -> (video, audio) predictions on the step's own noisy inputs; the
    # base model's (network off) without a graph
    predict: Callable[[object, bool], tuple[torch.Tensor, torch.Tensor]]


class LossTerm(ABC):
    """One named part of the step loss. `Settings`: its settings dataclass (None: it has none);
    `prediction`: which of the step's predictions its value is computed from ("video",
    "audio", or None for a term with forward passes of its own), so the trainer knows which
    output heads a step leaves out of the graph. `dist`: the data-parallel context (rank,
    world size, the cross-rank mean)."""

    name: str = ""
    Settings: type | None = None
    prediction: str | None = None
    reads_audio_prediction = False  # the step's audio prediction must live until this term ran

    def __init__(self, settings, dist: DistContext):
        self.settings = settings
        self.dist = dist

    @classmethod
    def own_settings(cls, loss_settings):
        """This term's settings: its fields of the trainer's LossSettings, by name."""
        if cls.Settings is None:
            return None
        return cls.Settings(**{f.name: getattr(loss_settings, f.name) for f in fields(cls.Settings)})

    @abstractmethod
    def compute(self, step: LossStep) -> tuple[torch.Tensor | None, dict]:
        """(its weighted part of the total, or None when it adds nothing this step; its metrics)."""


class VideoTerm(LossTerm):
    name = "video"
    prediction = "video"

    def compute(self, step: LossStep) -> tuple[torch.Tensor | None, dict]:
        shown = step.zero if step.video_loss is None else step.video_loss
        return step.video_loss, {"video_loss": shown.item()}


@dataclass
class AudioLossSettings:
    audio_loss_multiplier: float = config_field("train.audio_loss_multiplier")
    # auto | fixed | off. The config's default is null, which its validator turns into auto
    # (auto_balance_audio_loss is on by default), so the settings' default is auto.
    audio_balance_mode: str = "auto"
    auto_balance_target_ratio: float = config_field("train.auto_balance_target_ratio")


class AudioTerm(LossTerm):
    """The raw audio loss times the step's multiplier, from `audio_balance_mode`: the balancer
    (auto, SOP B/AQ; its state goes into checkpoints), the manual `audio_loss_multiplier`
    (fixed, SOP A) or 1 (off). `dist`: the cross-rank mean, so every rank's balancer sees the
    same losses (or the multipliers drift apart)."""

    name = "audio"
    Settings = AudioLossSettings
    prediction = "audio"

    def __init__(self, settings: AudioLossSettings, dist: DistContext):
        super().__init__(settings, dist)
        self.balancer = AudioLossBalancer(target_ratio=settings.auto_balance_target_ratio)

    def compute(self, step: LossStep) -> tuple[torch.Tensor | None, dict]:
        raw = step.zero if step.audio_loss is None else step.audio_loss
        video = step.zero if step.video_loss is None else step.video_loss
        multiplier = self._multiplier(raw, step.counts.global_audio > 0, video, step.counts.global_video > 0)
        scaled = raw * multiplier
        metrics = {"audio_loss_raw": raw.item(), "audio_loss_scaled": scaled.item(),
                   "audio_multiplier": float(multiplier),
                   "audio_loss": raw.item()}  # "audio_loss" in the foundation's metrics is the raw audio loss
        return (None if step.audio_loss is None else scaled), metrics

    def _multiplier(self, audio_loss: torch.Tensor, has_audio: bool, video_loss: torch.Tensor,
                    has_video: bool) -> float:
        """auto: the balancer's EMAs take each modality only from steps that scored it (`has_*`:
        the global batch did), so audio-only and video-to-audio steps do not pull the video EMA
        to 0. The ranks' losses (toolkit/train/scoring.py) average to the global batch's."""
        s = self.settings
        if s.audio_balance_mode == "fixed":
            return s.audio_loss_multiplier
        if s.audio_balance_mode == "off":
            return 1.0
        has_a, has_v = float(has_audio), float(has_video)
        audio_sum, ranks_with_audio, video_sum, ranks_with_video = self.dist.mean(
            [audio_loss.item() * has_a, has_a, video_loss.item() * has_v, has_v])
        if ranks_with_audio <= 0:
            return self.balancer.multiplier
        video_mean = video_sum / ranks_with_video if ranks_with_video > 0 else None
        return self.balancer.update(audio_sum / ranks_with_audio, video_mean)


@dataclass
class PreservationSettings:
    audio_preservation: str = config_field("train.audio_preservation")  # none | silence | base
    audio_preservation_multiplier: float = config_field("train.audio_preservation_multiplier")


class PreservationTerm(LossTerm):
    """Voice preservation for the items trained without their own audio (SOP E): silence
    asks the base voice path to keep producing silence for them; base distils the base
    model's own audio prediction (network off) on the same noisy inputs."""

    name = "audio_preservation"
    Settings = PreservationSettings
    prediction = "audio"

    @property
    def reads_audio_prediction(self) -> bool:
        return self.settings.audio_preservation == "base"

    def compute(self, step: LossStep) -> tuple[torch.Tensor | None, dict]:
        s = self.settings
        unsupervised = ~step.supervised
        preservation = None
        if unsupervised.any() and s.audio_preservation != "none":
            if s.audio_preservation == "silence":  # the silence latent is these items' target already
                preservation = step.audio_items[unsupervised].mean()
            else:
                base_audio = step.predict(step.batch.prompt, False)[1]
                preservation = per_item(elementwise_loss(step.audio_pred, base_audio, step.loss_type))[unsupervised].mean()
                del base_audio
        shown = step.zero if preservation is None else preservation
        value = None if preservation is None else s.audio_preservation_multiplier * preservation
        return value, {"audio_preservation_loss": float(shown.item())}


@dataclass
class DopSettings:
    diff_output_preservation: bool = config_field("train.diff_output_preservation")
    diff_output_preservation_multiplier: float = config_field("train.diff_output_preservation_multiplier")


class DopTerm(LossTerm):
    """Differential output preservation (SOP change X): on the same noisy inputs, with the
    trigger word replaced by the class word, the trained model must keep the base model's
    video and audio predictions, so the character does not bleed into its class. A modality
    that is a clean condition (or an audio item's placeholder video) is not scored."""

    name = "dop"
    Settings = DopSettings

    def compute(self, step: LossStep) -> tuple[torch.Tensor | None, dict]:
        s = self.settings
        if not s.diff_output_preservation:
            return None, {}
        dop_video = dop_audio = step.zero
        batch = step.batch
        if batch.dop_prompt is not None:
            base_prompt = batch.dop_base_prompt if batch.dop_base_prompt is not None else batch.dop_prompt
            base_video, base_audio = step.predict(base_prompt, False)
            video_pred, audio_pred = step.predict(batch.dop_prompt, True)
            zero = video_pred.new_zeros(())
            video = scored_mean(per_item_video(elementwise_loss(video_pred, base_video, step.loss_type), step.clean),
                                step.modes.video_scored)
            audio = scored_mean(per_item(elementwise_loss(audio_pred, base_audio, step.loss_type)),
                                ~step.modes.audio_clean)
            dop_video = zero if video is None else video
            dop_audio = zero if audio is None else audio
        value = s.diff_output_preservation_multiplier * (dop_video + dop_audio)
        return value, {"dop_video_loss": dop_video.item(), "dop_audio_loss": dop_audio.item()}

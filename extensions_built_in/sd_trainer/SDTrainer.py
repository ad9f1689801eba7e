"""Loss composition for one LTX-2 training step (video + audio, voice kept).

For a batch it draws one sigma per sample and per modality (independent audio timestep,
SOP change L), noises both latents with flow matching, runs the joint transformer once, and
adds the terms of loss_terms.py, each a named part with its own settings:

    total = video_loss
          + audio_multiplier * audio_loss_raw            (items with real audio)
          + preservation_multiplier * preservation_loss  (items without audio)
          + dop_multiplier * (dop_video + dop_audio)     (diff_output_preservation)

Per item and step (toolkit/train/item_modes.py): image-to-video items keep latent frame 0
clean (timestep 0, out of the video loss); video-to-audio items keep the whole video clean
(sigma 0) and score only the audio, audio-to-video items the other way round; audio-only
items (audio files) score only the audio beside a one-token placeholder video at sigma 1.
Audio losses are reduced to scalars here and in the terms (SOP change G): no audio
prediction or target tensor outlives this function. It reads only the settings it is handed
(root cause #18).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from extensions_built_in.sd_trainer.loss_terms import (
    AudioLossSettings,
    AudioTerm,
    DopSettings,
    DopTerm,
    LossStep,
    LossTerm,
    PreservationSettings,
    PreservationTerm,
    VideoTerm,
    elementwise_loss,
    per_item,
    per_item_video,
)
from toolkit.configuration.defaults import config_field
from toolkit.data_transfer_object.data_loader import TrainBatch
from toolkit.processes.distributed import DistContext
from toolkit.train.item_modes import ModeSettings, draw_item_modes
from toolkit.train.scoring import ScoredCounts, scored_loss
from toolkit.train.timestep_samplers import sample_sigmas
from toolkit.train_tools import add_noise, apply_dynamic_noise_offset, apply_noise_offset, flow_target

#: The step loss's terms, added in this order (loss_terms.py).
LOSS_TERMS: tuple[type[LossTerm], ...] = (VideoTerm, AudioTerm, PreservationTerm, DopTerm)


@dataclass
class StepSettings:
    """How the step draws and scores: sigmas, noise, item modes, the elementwise loss."""

    timestep_type: str = config_field("train.timestep_type")
    content_or_style: str = config_field("train.content_or_style")
    independent_audio_timestep: bool = config_field("train.independent_audio_timestep")
    loss_type: str = config_field("train.loss_type")
    noise_offset: float = config_field("train.noise_offset")
    dynamic_noise_offset: bool = config_field("train.dynamic_noise_offset")
    # per-item modes (toolkit/train/item_modes.py); draw_i2v is computed from the datasets' do_i2v
    draw_i2v: bool = False
    video_to_audio_probability: float = config_field("train.video_to_audio_probability")
    audio_to_video_probability: float = config_field("train.audio_to_video_probability")


@dataclass
class LossSettings(DopSettings, PreservationSettings, AudioLossSettings, StepSettings):
    """The train section's loss keys: the step's and every term's (each default the config's,
    toolkit/configuration/defaults.py). The run fills it by field name; each term gets its own."""


@dataclass
class StepLosses:
    """One step's loss (a graph-carrying scalar) and its float metrics."""

    total: torch.Tensor
    metrics: dict


class SDTrainer:
    """Computes the step loss; its audio term owns the audio balancer (its state goes into checkpoints)."""

    def __init__(self, model, network, settings: LossSettings, generator: torch.Generator | None = None,
                 dist: DistContext | None = None):
        self.model = model
        self.network = network
        self.settings = settings
        self.generator = generator
        # Data parallel (rank, world size, the cross-rank mean): every rank draws the
        # randomness of the whole global batch and keeps its own rows (DistContext.global_rows),
        # and the balancer sees the same losses everywhere, or the multipliers drift apart.
        self.dist = dist or DistContext()
        # each term with its own fields of `settings` (copied: settings changed later do not reach it)
        self.terms: list[LossTerm] = [term(term.own_settings(settings), self.dist) for term in LOSS_TERMS]

    def term(self, name: str) -> LossTerm:
        return next(term for term in self.terms if term.name == name)

    @property
    def balancer(self):
        """The audio term's balancer (its state goes into checkpoints)."""
        return self.term("audio").balancer

    @property
    def rank(self) -> int:
        return self.dist.rank

    def sample_sigmas(self, batch: TrainBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(sigma_video, sigma_audio), each (B,), each shifted by its own token count."""
        s = self.settings
        size = batch.video_latents.shape[0]
        audio_tokens = batch.audio_latents.shape[1]
        video_tokens = self.model.video_token_count(tuple(batch.video_latents.shape))
        if batch.audio_only is not None and bool(batch.audio_only.all()):
            # Audio-only items: their video sigma is set to 1 later; a shared sigma is the
            # audio's, shifted by the audio's own token count.
            video_tokens = audio_tokens
        sigma_video = self.dist.global_rows(
            lambda n: sample_sigmas(s.timestep_type, n, video_tokens, self.generator, s.content_or_style), size)
        if not s.independent_audio_timestep:
            return sigma_video, sigma_video.clone()
        sigma_audio = self.dist.global_rows(
            lambda n: sample_sigmas(s.timestep_type, n, audio_tokens, self.generator, s.content_or_style), size)
        return sigma_video, sigma_audio

    def draw_noise(self, batch: TrainBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(video noise with the noise offsets applied, audio noise), shaped like the latents."""
        s = self.settings
        x0_video, x0_audio = batch.video_latents, batch.audio_latents
        size = x0_video.shape[0]

        def video_noise(n):
            noise = torch.randn((n, *x0_video.shape[1:]), generator=self.generator)
            return apply_noise_offset(noise, s.noise_offset, self.generator)

        noise_video = self.dist.global_rows(video_noise, size).to(x0_video.device)
        if s.dynamic_noise_offset:
            noise_video = apply_dynamic_noise_offset(noise_video, x0_video, s.noise_offset)
        noise_audio = self.dist.global_rows(
            lambda n: torch.randn((n, *x0_audio.shape[1:]), generator=self.generator), size).to(x0_audio.device)
        return noise_video, noise_audio

    @property
    def mode_settings(self) -> ModeSettings:
        s = self.settings
        return ModeSettings(s.draw_i2v, s.video_to_audio_probability, s.audio_to_video_probability)

    @staticmethod
    def clean_frames(batch: TrainBatch, i2v: torch.Tensor | None) -> torch.Tensor | None:
        """(B, F') bool, True on latent frame 0 of this step's image-to-video items; None when
        the batch has none."""
        if i2v is None or not bool(i2v.any()):
            return None
        frames = batch.video_latents.shape[2]
        mask = torch.zeros(i2v.shape[0], frames, dtype=torch.bool, device=batch.video_latents.device)
        mask[:, 0] = i2v.to(mask.device)
        return mask

    def compute(self, batch: TrainBatch) -> StepLosses:
        step, sigma_video, sigma_audio = self._step(batch)
        # The audio prediction lives until the last term that reads it has run; after that
        # the audio losses are scalars only (SOP change G).
        keep_until = max((i for i, term in enumerate(self.terms) if term.reads_audio_prediction), default=-1)
        if keep_until < 0:
            step.audio_pred = None
        total = None
        in_graph = {"video": False, "audio": False}  # the step's predictions some term's value reaches
        metrics: dict = {}
        for index, term in enumerate(self.terms):
            value, term_metrics = term.compute(step)
            if index == keep_until:
                step.audio_pred = None
            metrics.update(term_metrics)
            if value is not None and term.prediction is not None:
                in_graph[term.prediction] = True
            part = step.zero if value is None else value
            total = part if total is None else total + part
        # A step whose items all leave one modality unscored (audio files and video-to-audio
        # score no video, audio-to-video no audio) leaves that output head without a gradient;
        # data parallel (DDP, FSDP) needs every rank to produce a gradient for every trained
        # parameter, and one process should step like N. A zero-weighted sum keeps both
        # outputs in the graph (exact zero gradients). Joint steps add nothing (as before).
        modes = step.modes
        if not in_graph["video"] or (bool(modes.audio_clean.any()) and not in_graph["audio"]):
            total = total + (step.video_items.sum() + step.audio_items.sum()) * 0.0
        supervised = step.supervised
        metrics = {
            "loss": total.item(),
            **metrics,
            "audio_supervised_items": int(supervised.sum().item()),
            "video_scored_items": int(modes.video_scored.sum().item()),
            "batch_items": int(supervised.numel()),
            "sigma_video": sigma_video.mean().item(),
            "sigma_audio": sigma_audio.mean().item(),
            **modes.counts(),
        }
        return StepLosses(total=total, metrics=metrics)

    def _step(self, batch: TrainBatch) -> tuple[LossStep, torch.Tensor, torch.Tensor]:
        """The step's shared work: draws (sigmas, noise, item modes, in that order), one
        forward pass, each modality's per-item loss and its mean over the scored items."""
        s = self.settings
        device = batch.video_latents.device
        sigma_video, sigma_audio = self.sample_sigmas(batch)

        x0_video = batch.video_latents
        x0_audio = batch.audio_latents  # silence latents stand in for items without audio
        noise_video, noise_audio = self.draw_noise(batch)
        modes = draw_item_modes(batch, self.mode_settings, self.generator, self.dist)
        sigma_video, sigma_audio = modes.apply(sigma_video, sigma_audio)
        noisy_video = add_noise(x0_video, noise_video, sigma_video)
        noisy_audio = add_noise(x0_audio, noise_audio, sigma_audio)
        if bool(modes.video_clean.any()):  # sigma 0 already leaves them so; said exactly
            noisy_video = torch.where(modes.video_clean.to(device)[:, None, None, None, None], x0_video, noisy_video)
        if bool(modes.audio_clean.any()):
            noisy_audio = torch.where(modes.audio_clean.to(device)[:, None, None], x0_audio, noisy_audio)
        clean = self.clean_frames(batch, modes.i2v)
        if clean is not None:
            # Image-to-video: the first latent frame is the clean image latent (the causal VAE
            # encodes frame 0 alone), exactly what the image-to-video pipeline conditions on.
            noisy_video = torch.where(clean[:, None, :, None, None], x0_video, noisy_video)
        inputs = (noisy_video, noisy_audio, sigma_video, sigma_audio)
        video_pred, audio_pred = self.model.predict(*inputs, batch.prompt, batch.fps, video_clean_frames=clean)

        weights = batch.loss_multiplier.to(device)
        video_items = per_item_video(elementwise_loss(video_pred, flow_target(x0_video, noise_video), s.loss_type), clean)
        del video_pred
        video_scored = modes.video_scored.to(device)
        audio_scored = modes.audio_scored(batch.audio_supervised).to(device)
        counts = ScoredCounts.gather(video_scored, audio_scored, self.dist)
        video_loss = scored_loss(video_items * weights, video_scored, counts.video, counts.global_video,
                                 counts.global_items, counts.world)
        audio_items = per_item(elementwise_loss(audio_pred, flow_target(x0_audio, noise_audio), s.loss_type))
        audio_loss = scored_loss(audio_items * weights, audio_scored, counts.audio, counts.global_audio,
                                 counts.global_items, counts.world)

        def predict(prompt, network_on: bool) -> tuple[torch.Tensor, torch.Tensor]:
            if network_on:
                return self.model.predict(*inputs, prompt, batch.fps, video_clean_frames=clean)
            return self._base_prediction(inputs, prompt, batch.fps, clean)

        step = LossStep(batch=batch, modes=modes, clean=clean, loss_type=s.loss_type,
                        zero=video_items.new_zeros(()), supervised=batch.audio_supervised.to(device),
                        video_items=video_items, audio_items=audio_items, counts=counts, video_loss=video_loss,
                        audio_loss=audio_loss, audio_pred=audio_pred, predict=predict)
        return step, sigma_video, sigma_audio

    @torch.no_grad()
    def _base_prediction(self, inputs, prompt, fps, clean) -> tuple[torch.Tensor, torch.Tensor]:
        """The base model's (video, audio) prediction: the network switched off."""
        self.network.set_enabled(False)
        try:
            return self.model.predict(*inputs, prompt, fps, video_clean_frames=clean)
        finally:
            self.network.set_enabled(True)


def warn_min_snr(gamma: float) -> str | None:
    """Min-SNR needs alphas_cumprod, which flow matching has not (root cause #19)."""
    if gamma and gamma > 0:
        message = (
            f"train.min_snr_gamma ({gamma}) does not apply to flow-matching LTX-2 and is ignored; "
            "use timestep_type: weighted for a similar balance, or set min_snr_gamma: 0"
        )
        return message
    return None

"""Loss composition for one LTX-2 training step (video + audio, voice kept).

For a batch it draws one sigma per sample and per modality (independent audio timestep,
SOP change L), noises both latents with flow matching, runs the joint transformer once, and
composes:

    total = video_loss
          + audio_multiplier * audio_loss_raw            (items with real audio)
          + preservation_multiplier * preservation_loss  (items without audio)
          + dop_multiplier * (dop_video + dop_audio)     (diff_output_preservation)

Per item and step (toolkit/train/item_modes.py): image-to-video items keep latent frame 0
clean (timestep 0, out of the video loss); video-to-audio items keep the whole video clean
(sigma 0) and score only the audio, audio-to-video items the other way round; audio-only
items (audio files) score only the audio beside a one-token placeholder video at sigma 1. Differential output preservation re-runs the same
noisy inputs with the class-word prompt: the base model (network off) gives the target,
the network's prediction on that prompt is pulled toward it, for video and audio alike.
`audio_multiplier` comes from `audio_balance_mode`: the balancer (auto, SOP B/AQ), the manual
`audio_loss_multiplier` (fixed, SOP A) or 1 (off, the raw audio loss as it is).
Audio losses are reduced to scalars here (SOP change G): no audio prediction or target
tensor outlives this function. It reads only the settings it is handed (root cause #18).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toolkit.configuration.defaults import config_field
from toolkit.data_transfer_object.data_loader import TrainBatch
from toolkit.processes.distributed import DistContext
from toolkit.train.audio_balance import AudioLossBalancer
from toolkit.train.item_modes import ItemModes, ModeSettings, draw_item_modes
from toolkit.train.scoring import ScoredCounts, scored_loss
from toolkit.train.timestep_samplers import sample_sigmas
from toolkit.train_tools import add_noise, apply_dynamic_noise_offset, apply_noise_offset, flow_target

PSEUDO_HUBER_C = 0.03


@dataclass
class LossSettings:
    """The train section's loss keys; each default is the config's (toolkit/configuration/defaults.py)."""

    timestep_type: str = config_field("train.timestep_type")
    content_or_style: str = config_field("train.content_or_style")
    independent_audio_timestep: bool = config_field("train.independent_audio_timestep")
    loss_type: str = config_field("train.loss_type")
    noise_offset: float = config_field("train.noise_offset")
    dynamic_noise_offset: bool = config_field("train.dynamic_noise_offset")
    audio_loss_multiplier: float = config_field("train.audio_loss_multiplier")
    # auto | fixed | off. The config's default is null, which its validator turns into auto
    # (auto_balance_audio_loss is on by default), so the settings' default is auto.
    audio_balance_mode: str = "auto"
    auto_balance_target_ratio: float = config_field("train.auto_balance_target_ratio")
    audio_preservation: str = config_field("train.audio_preservation")  # none | silence | base
    audio_preservation_multiplier: float = config_field("train.audio_preservation_multiplier")
    diff_output_preservation: bool = config_field("train.diff_output_preservation")
    diff_output_preservation_multiplier: float = config_field("train.diff_output_preservation_multiplier")
    # per-item modes (toolkit/train/item_modes.py); draw_i2v is computed from the datasets' do_i2v
    draw_i2v: bool = False
    video_to_audio_probability: float = config_field("train.video_to_audio_probability")
    audio_to_video_probability: float = config_field("train.audio_to_video_probability")


@dataclass
class StepLosses:
    """One step's loss (a graph-carrying scalar) and its float metrics."""

    total: torch.Tensor
    metrics: dict


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


class SDTrainer:
    """Computes the step loss; owns the audio balancer (its state goes into checkpoints)."""

    def __init__(self, model, network, settings: LossSettings, generator: torch.Generator | None = None,
                 dist: DistContext | None = None):
        self.model = model
        self.network = network
        self.settings = settings
        self.generator = generator
        self.balancer = AudioLossBalancer(target_ratio=settings.auto_balance_target_ratio)
        # Data parallel (rank, world size, the cross-rank mean): every rank draws the
        # randomness of the whole global batch and keeps its own rows (DistContext.global_rows),
        # and the balancer sees the same losses everywhere, or the multipliers drift apart.
        self.dist = dist or DistContext()

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
        zero = video_items.new_zeros(())
        video_scored = modes.video_scored.to(device)
        audio_scored = modes.audio_scored(batch.audio_supervised).to(device)
        counts = ScoredCounts.gather(video_scored, audio_scored, self.dist)
        scored_video = scored_loss(video_items * weights, video_scored, counts.video, counts.global_video,
                                   counts.global_items, counts.world)
        video_loss = zero if scored_video is None else scored_video
        del video_pred

        supervised = batch.audio_supervised.to(device)
        audio_items = per_item(elementwise_loss(audio_pred, flow_target(x0_audio, noise_audio), s.loss_type))
        scored_audio = scored_loss(audio_items * weights, audio_scored, counts.audio, counts.global_audio,
                                   counts.global_items, counts.world)
        audio_loss_raw = zero if scored_audio is None else scored_audio

        preservation = zero
        unsupervised = ~supervised
        if unsupervised.any() and s.audio_preservation != "none":
            if s.audio_preservation == "silence":
                # Target the silent latent: the base voice path is asked to keep producing
                # silence for audio-free items instead of drifting (SOP change E).
                preservation = audio_items[unsupervised].mean()
            else:  # "base": distil the base model's own audio prediction (network off)
                base_audio = self._base_audio_prediction(inputs, batch, clean)
                preservation = per_item(elementwise_loss(audio_pred, base_audio, s.loss_type))[unsupervised].mean()
                del base_audio
        # A step whose items all leave one modality unscored (audio files and video-to-audio
        # score no video, audio-to-video no audio) leaves that output head without a gradient;
        # data parallel (DDP, FSDP) needs every rank to produce a gradient for every trained
        # parameter, and one process should step like N. A zero-weighted sum keeps both
        # outputs in the graph (exact zero gradients). Joint steps add nothing (as before).
        audio_in_graph = bool(audio_scored.any()) or preservation is not zero
        unscored_mode = scored_video is None or (bool(modes.audio_clean.any()) and not audio_in_graph)
        keep_graph = (video_items.sum() + audio_items.sum()) * 0.0 if unscored_mode else None
        del audio_pred, audio_items  # scalar audio losses only from here on (SOP change G)

        multiplier = self._audio_multiplier(audio_loss_raw, counts.global_audio > 0, video_loss,
                                            counts.global_video > 0)
        audio_loss_scaled = audio_loss_raw * multiplier
        dop_video = dop_audio = zero
        if s.diff_output_preservation and batch.dop_prompt is not None:
            dop_video, dop_audio = self._dop_losses(inputs, batch, clean, modes)
        total = (video_loss + audio_loss_scaled + s.audio_preservation_multiplier * preservation
                 + s.diff_output_preservation_multiplier * (dop_video + dop_audio))
        if keep_graph is not None:
            total = total + keep_graph

        metrics = {
            "loss": total.item(),
            "video_loss": video_loss.item(),
            "audio_loss_raw": audio_loss_raw.item(),
            "audio_loss_scaled": audio_loss_scaled.item(),
            "audio_multiplier": float(multiplier),
            "audio_preservation_loss": float(preservation.item()),
            "audio_supervised_items": int(supervised.sum().item()),
            "video_scored_items": int(video_scored.sum().item()),
            "batch_items": int(supervised.numel()),
            "sigma_video": sigma_video.mean().item(),
            "sigma_audio": sigma_audio.mean().item(),
        }
        if s.diff_output_preservation:
            metrics["dop_video_loss"] = dop_video.item()
            metrics["dop_audio_loss"] = dop_audio.item()
        if clean is not None:
            metrics["i2v_items"] = int(modes.i2v.sum().item())
        metrics.update(modes.counts())
        # "audio_loss" in the foundation's metrics is the raw audio loss.
        metrics["audio_loss"] = metrics["audio_loss_raw"]
        return StepLosses(total=total, metrics=metrics)

    def _audio_multiplier(self, audio_loss: torch.Tensor, has_audio: bool, video_loss: torch.Tensor,
                          has_video: bool) -> float:
        """The audio loss weight of this step, by `audio_balance_mode`. auto: the balancer's
        EMAs take each modality only from steps that scored it (`has_*`: the global batch
        did), so audio-only and video-to-audio steps do not pull the video EMA to 0. The
        ranks' losses (toolkit/train/scoring.py) average to the global batch's."""
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

    @torch.no_grad()
    def _base_prediction(self, inputs, prompt, fps, clean) -> tuple[torch.Tensor, torch.Tensor]:
        """The base model's (video, audio) prediction: the network switched off."""
        self.network.set_enabled(False)
        try:
            return self.model.predict(*inputs, prompt, fps, video_clean_frames=clean)
        finally:
            self.network.set_enabled(True)

    def _base_audio_prediction(self, inputs, batch, clean) -> torch.Tensor:
        return self._base_prediction(inputs, batch.prompt, batch.fps, clean)[1]

    def _dop_losses(self, inputs, batch, clean, modes: ItemModes) -> tuple[torch.Tensor, torch.Tensor]:
        """Differential output preservation (SOP change X): on the same noisy inputs, with the
        trigger word replaced by the class word, the trained model must keep the base model's
        video and audio predictions, so the character does not bleed into its class. A
        modality that is a clean condition (or an audio item's placeholder video) is not scored."""
        s = self.settings
        base_prompt = batch.dop_base_prompt if batch.dop_base_prompt is not None else batch.dop_prompt
        base_video, base_audio = self._base_prediction(inputs, base_prompt, batch.fps, clean)
        video_pred, audio_pred = self.model.predict(*inputs, batch.dop_prompt, batch.fps, video_clean_frames=clean)
        zero = video_pred.new_zeros(())
        dop_video = scored_mean(per_item_video(elementwise_loss(video_pred, base_video, s.loss_type), clean),
                                modes.video_scored)
        dop_audio = scored_mean(per_item(elementwise_loss(audio_pred, base_audio, s.loss_type)), ~modes.audio_clean)
        return (zero if dop_video is None else dop_video), (zero if dop_audio is None else dop_audio)


def warn_min_snr(gamma: float) -> str | None:
    """Min-SNR needs alphas_cumprod, which flow matching has not (root cause #19)."""
    if gamma and gamma > 0:
        message = (
            f"train.min_snr_gamma ({gamma}) does not apply to flow-matching LTX-2 and is ignored; "
            "use timestep_type: weighted for a similar balance, or set min_snr_gamma: 0"
        )
        return message
    return None

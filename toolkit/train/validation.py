"""Held-out validation loss per modality (`validation_datasets`, `train.validate_every`).

The validation items (encoded like the training data, never trained on) are scored with
the flow-matching MSE at fixed sigmas, with fixed noise, network in eval mode (no dropout):
each item is noised at each of ``SIGMAS`` with the same noise at every validation and in
every run (drawn from a generator of its own, seeded by ``NOISE_SEED`` and the item's index,
never from the run's generator, so validation changes no training draw), both modalities at
the same sigma. Two runs on the same validation data therefore compare exactly, and a
resumed run continues the same curve.

* ``val_video_loss``: the mean over items with video (audio files have none);
* ``val_audio_loss``: the mean over items with voice (clips with their audio, audio files);
  an audio file's placeholder video is held at sigma 1 and not scored, as in training;
* ``val_loss``: their sum (what ai-toolkit's chart shows as ``val/loss``).

A modality no item has is None. Every rank computes the same values (data parallel
wrappers need every rank in each forward); the run's main process writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toolkit.train_tools import add_noise, flow_target

SIGMAS = (0.1, 0.3, 0.5, 0.7, 0.9)
NOISE_SEED = 20261207


@dataclass
class ValidationResult:
    step: int
    video: float | None
    audio: float | None

    @property
    def total(self) -> float | None:
        parts = [v for v in (self.video, self.audio) if v is not None]
        return sum(parts) if parts else None

    def metrics(self) -> dict:
        """The metrics.jsonl keys (ai-toolkit's chart shows them as val/...)."""
        return {"val_loss": self.total, "val_video_loss": self.video, "val_audio_loss": self.audio}


class Validator:
    """Scores the held-out items. `encode_caption`: caption -> prompt embeddings (the run's
    text cache); `silence`: number of audio samples -> the silent audio latent (L, Ca) that
    stands in for an item without audio, as in training (its audio is not scored)."""

    def __init__(self, model, items: list, encode_caption, silence, device: torch.device):
        self.model = model
        self.items = items
        self.encode_caption = encode_caption
        self.silence = silence
        self.device = device

    def _audio_of(self, item) -> torch.Tensor:
        """(1, L, Ca): the item's audio latent, or the silence that stands in for it in training."""
        latent = item.audio_latent if item.has_audio else self.silence(item.num_audio_samples)
        return latent[None].float()

    @torch.no_grad()
    def run(self, step: int) -> ValidationResult:
        # No rank, module or adapter dropout (trained connectors carry adapters too); each
        # module's own mode is put back after.
        # (frozen connectors are not loaded while training: their outputs are cached per prompt)
        parts = [part for part in (self.model.transformer, self.model.connectors) if part is not None]
        modes = {m: m.training for part in parts for m in part.modules()}
        for part in parts:
            part.eval()
        video_sum = audio_sum = 0.0
        video_n = audio_n = 0
        try:
            for index, item in enumerate(self.items):
                x0_video, x0_audio = item.video_latent[None].float(), self._audio_of(item)
                generator = torch.Generator().manual_seed(NOISE_SEED + index)
                noise_video = torch.randn(x0_video.shape, generator=generator)
                noise_audio = torch.randn(x0_audio.shape, generator=generator)
                prompt = self.encode_caption(item.caption)
                for sigma in SIGMAS:
                    s = torch.tensor([sigma])
                    sv = torch.ones(1) if item.audio_only else s  # an audio file's video is not known
                    video_pred, audio_pred = self.model.predict(
                        add_noise(x0_video, noise_video, sv).to(self.device),
                        add_noise(x0_audio, noise_audio, s).to(self.device), sv, s, prompt, item.fps)
                    if not item.audio_only:
                        video_sum += (video_pred.cpu() - flow_target(x0_video, noise_video)).square().mean().item()
                        video_n += 1
                    if item.has_audio:
                        audio_sum += (audio_pred.cpu() - flow_target(x0_audio, noise_audio)).square().mean().item()
                        audio_n += 1
        finally:
            for module, mode in modes.items():
                module.training = mode
        return ValidationResult(step, video_sum / video_n if video_n else None,
                                audio_sum / audio_n if audio_n else None)

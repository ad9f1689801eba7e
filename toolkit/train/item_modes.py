"""Per item and per step: which parts of a training example are noised and which are scored.

A joint item noises and scores both modalities. Four things change that, each per item:

* **image-to-video** (``datasets[].do_i2v``): latent frame 0 stays clean (timestep 0) as the
  condition and is left out of the video loss. ``do_i2v`` is a probability: 1 (``true``)
  every step, a share in (0, 1) drawn per item and step, 0 (``false``) never.
* **video-to-audio** (``direction: video_to_audio``, or ``train.video_to_audio_probability``):
  the whole video stays clean (sigma 0) as the condition; only the audio is noised and scored.
* **audio-to-video** (``direction: audio_to_video``, or ``train.audio_to_video_probability``):
  the other way round.
* **audio-only items** (windows of .wav and other audio files): their video is the model's
  one-token placeholder held at sigma 1 (pure noise, "the picture is not known"); only the
  audio is scored.

A clean modality gets sigma 0, so flow matching leaves its latent exactly as it is; the
transformer then sees timestep 0 on its tokens, and the version's cross-timestep routing
(extensions_built_in/diffusion_models/ltx2/conditioning.py) takes each modality's own
timesteps and the other modality's sigma from what it is handed, so 2.3/2.5's reference
routing gates the generated modality by the clean one's sigma 0, as Lightricks' reference
does for a clean condition.

The draws (``draw_item_modes``) come after the step's sigmas and noise on the run's one
generator, each for the whole global batch (docs/architecture.md: a new draw goes after the
existing ones), and only when a setting asks for them: a run without fractional ``do_i2v``
and without direction probabilities draws exactly what it drew before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toolkit.data_transfer_object.data_loader import DIRECTIONS, TrainBatch

JOINT, VIDEO_TO_AUDIO, AUDIO_TO_VIDEO = (DIRECTIONS.index(name) for name in DIRECTIONS)


@dataclass
class ModeSettings:
    """What the draws need from the config."""

    draw_i2v: bool = False  # some dataset has do_i2v strictly between 0 and 1
    video_to_audio_probability: float = 0.0
    audio_to_video_probability: float = 0.0

    @property
    def draw_direction(self) -> bool:
        return self.video_to_audio_probability > 0 or self.audio_to_video_probability > 0


@dataclass
class ItemModes:
    """The step's decision for each item of this rank's batch, all (B,) bool."""

    i2v: torch.Tensor  # latent frame 0 clean and unscored
    video_clean: torch.Tensor  # video-to-audio: the whole video clean (sigma 0) and unscored
    audio_clean: torch.Tensor  # audio-to-video: the whole audio clean (sigma 0) and unscored
    video_unknown: torch.Tensor  # audio-only items: placeholder video at sigma 1, unscored

    @property
    def video_scored(self) -> torch.Tensor:
        return ~(self.video_clean | self.video_unknown)

    def audio_scored(self, supervised: torch.Tensor) -> torch.Tensor:
        """Items whose audio is real and generated (not the clean condition)."""
        return supervised & ~self.audio_clean

    def apply(self, sigma_video: torch.Tensor, sigma_audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's sigmas with the clean (0) and unknown (1) modalities set; the same
        tensors when no item changes (a joint batch stays bit for bit what it was)."""
        if bool(self.video_clean.any()) or bool(self.video_unknown.any()):
            sigma_video = torch.where(self.video_clean.to(sigma_video.device), torch.zeros_like(sigma_video), sigma_video)
            sigma_video = torch.where(self.video_unknown.to(sigma_video.device), torch.ones_like(sigma_video), sigma_video)
        if bool(self.audio_clean.any()):
            sigma_audio = torch.where(self.audio_clean.to(sigma_audio.device), torch.zeros_like(sigma_audio), sigma_audio)
        return sigma_video, sigma_audio

    def counts(self) -> dict[str, int]:
        """Metrics of the items whose step was not plain joint: image-to-video (the first frame
        clean), a direction, audio-only (keys end in _items: summed across ranks)."""
        named = {"i2v_items": self.i2v, "v2a_items": self.video_clean, "a2v_items": self.audio_clean,
                 "audio_only_items": self.video_unknown}
        return {key: int(mask.sum()) for key, mask in named.items() if bool(mask.any())}


def draw_item_modes(batch: TrainBatch, settings: ModeSettings, generator: torch.Generator | None, dist) -> ItemModes:
    """Decide each item's mode for this step. Draws (only when `settings` asks for them):
    first the image-to-video draw, then the direction draw, each one uniform per item of the
    global batch (`dist.global_rows`), this rank's rows kept."""
    size = batch.video_latents.shape[0]
    probability = batch.i2v if batch.i2v is not None else torch.zeros(size)
    if settings.draw_i2v:
        draw = dist.global_rows(lambda n: torch.rand(n, generator=generator), size)
        i2v = draw < probability
    else:
        i2v = probability >= 1.0
    direction = batch.direction.clone() if batch.direction is not None else torch.zeros(size, dtype=torch.long)
    audio_only = batch.audio_only if batch.audio_only is not None else torch.zeros(size, dtype=torch.bool)
    if settings.draw_direction:
        draw = dist.global_rows(lambda n: torch.rand(n, generator=generator), size)
        # Only a joint clip with its own voice can give one modality as the other's condition.
        eligible = (direction == JOINT) & batch.audio_supervised.cpu() & ~audio_only
        v2a = eligible & (draw < settings.video_to_audio_probability)
        a2v = eligible & ~v2a & (draw < settings.video_to_audio_probability + settings.audio_to_video_probability)
        direction = torch.where(v2a, torch.full_like(direction, VIDEO_TO_AUDIO), direction)
        direction = torch.where(a2v, torch.full_like(direction, AUDIO_TO_VIDEO), direction)
    video_clean = direction == VIDEO_TO_AUDIO
    return ItemModes(i2v=i2v & ~video_clean, video_clean=video_clean, audio_clean=direction == AUDIO_TO_VIDEO,
                     video_unknown=audio_only.clone())

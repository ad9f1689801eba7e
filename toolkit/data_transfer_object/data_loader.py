"""What travels from the data side to the loss: encoded items and batches of them.

Audio is aligned per item (SOP change C, root cause #3): an item without audio keeps `None`
in its place, and a batch never loses its audio because its first item has none. For the
joint forward pass, each audio-free item gets a duration-matched silent audio latent
(SOP change D) and is marked unsupervised, so it never counts as real voice supervision.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toolkit.dataset.audio_status import AudioStatus


@dataclass
class EncodedItem:
    """One training example after the VAEs.

    video_latent: (C, F', H', W') normalised; audio_latent: (L, Ca) packed normalised or None.
    audio_status: why there is or is no audio latent (toolkit/dataset/audio_status.py).
    """

    path: str
    caption: str
    video_latent: torch.Tensor
    audio_latent: torch.Tensor | None
    audio_status: AudioStatus
    fps: float
    num_audio_samples: int
    loss_multiplier: float = 1.0
    window_start_s: float = 0.0
    caption_dropout_rate: float = 0.0
    # Window sets of one clip (toolkit/dataloader_mixins.py): the sampler trains one per epoch.
    clip_key: str = ""
    variant: int = 0
    variants: int = 1
    i2v: bool = False  # image-to-video: latent frame 0 (the first frame) is a clean condition
    # The item's window has speech (toolkit/voice/speech.py): voice, not only sound. Set from
    # the window plan on every start (not cached: the plan reads the kept audio scan).
    speech: bool = False

    @property
    def has_audio(self) -> bool:
        return self.audio_latent is not None

    def bucket_key(self) -> tuple:
        """Items batch together only with the same latent shape and fps."""
        return (tuple(self.video_latent.shape), self.num_audio_samples, self.fps)


@dataclass
class TrainBatch:
    """A collated batch.

    video_latents: (B, C, F', H', W'); audio_latents: (B, L, Ca) with silence where an item
    has none; audio_supervised: (B,) bool, True where the audio is real; audio_per_item keeps
    the per-item alignment (None for items without audio).
    """

    video_latents: torch.Tensor
    audio_latents: torch.Tensor
    audio_supervised: torch.Tensor
    audio_per_item: list
    prompt: object  # PromptEmbeds from the model adapter
    paths: list[str]
    fps: float
    loss_multiplier: torch.Tensor
    i2v: torch.Tensor | None = None  # (B,) bool: items trained image-to-video (first frame clean)
    dop_prompt: object = None  # PromptEmbeds of the captions with the class word (diff output preservation)
    dop_base_prompt: object = None  # the same, encoded with the network off (for the base target)


def collate(items: list[EncodedItem], prompt, silence_latent: torch.Tensor) -> TrainBatch:
    """Stack items of one bucket. `silence_latent` (L, Ca) fills in for items without audio."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    keys = {item.bucket_key() for item in items}
    if len(keys) != 1:
        raise ValueError(f"items of different buckets in one batch: {sorted(keys)}")
    per_item = [item.audio_latent for item in items]
    audio = torch.stack([a if a is not None else silence_latent for a in per_item])
    return TrainBatch(
        video_latents=torch.stack([item.video_latent for item in items]),
        audio_latents=audio,
        audio_supervised=torch.tensor([a is not None for a in per_item], dtype=torch.bool),
        audio_per_item=per_item,
        prompt=prompt,
        paths=[item.path for item in items],
        fps=items[0].fps,
        loss_multiplier=torch.tensor([item.loss_multiplier for item in items], dtype=torch.float32),
        i2v=torch.tensor([item.i2v for item in items], dtype=torch.bool),
    )

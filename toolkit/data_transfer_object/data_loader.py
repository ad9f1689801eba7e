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

#: Values of EncodedItem.direction, in the order TrainBatch.direction indexes them.
DIRECTIONS = ("joint", "video_to_audio", "audio_to_video")


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
    # image-to-video: the probability (datasets[].do_i2v) that a step keeps latent frame 0
    # (the first frame) clean as the condition; 1.0 = always, drawn per item otherwise
    i2v: float = 0.0
    # a window of an audio-only file: its video is the model's one-token placeholder, never scored
    audio_only: bool = False
    # datasets[].direction: "joint", or one modality kept clean as the condition of the
    # other ("video_to_audio", "audio_to_video"; toolkit/train/item_modes.py)
    direction: str = "joint"
    # The item's window has speech (toolkit/voice/speech.py): voice, not only sound. Set from
    # the window plan on every start (not cached: the plan reads the kept audio scan).
    speech: bool = False

    @property
    def has_audio(self) -> bool:
        return self.audio_latent is not None

    def bucket_key(self) -> tuple:
        """Items batch together only with the same latent shape and fps (audio-only items
        only with each other)."""
        key = (tuple(self.video_latent.shape), self.num_audio_samples, self.fps)
        return key + ("audio",) if self.audio_only else key


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
    i2v: torch.Tensor | None = None  # (B,) float: each item's image-to-video probability (first frame clean)
    audio_only: torch.Tensor | None = None  # (B,) bool: windows of audio-only files (no video scored)
    direction: torch.Tensor | None = None  # (B,) int: toolkit/train/item_modes.DIRECTIONS index of each item
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
        i2v=torch.tensor([float(item.i2v) for item in items], dtype=torch.float32),
        audio_only=torch.tensor([item.audio_only for item in items], dtype=torch.bool),
        direction=torch.tensor([DIRECTIONS.index(item.direction) for item in items], dtype=torch.long),
    )

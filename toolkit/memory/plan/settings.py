"""What the memory plan is asked about: a training item's shape and a run's memory settings (plain data, no torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from toolkit.memory.sizes import (
    AUDIO_LATENTS_PER_S,
    TEXT_TOKENS,
    VAE_SPATIAL,
    VAE_TEMPORAL,
)

GiB = 1024 ** 3
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
QUANTIZED_WEIGHT_BYTES = 1  # qfloat8, qint8, torchao int8/float8: one byte per weight (+ scales)
QTYPES = ("qfloat8", "qint8", "torchao_int8", "torchao_float8")
OPTIMIZER_STATE_BYTES = {"adamw": 8, "adamw8bit": 2, "prodigy": 16, "dadaptation": 12, "adafactor": 4}
CUDA_CONTEXT_BYTES = 0.6 * GiB  # CUDA context + cuBLAS/cuDNN workspaces, outside max_memory_allocated


@dataclass(frozen=True)
class TrainShape:
    """Tokens of one training item: video latents (frames x height x width / 32^2 / 8) and audio latents."""

    video_tokens: int
    audio_tokens: int
    text_tokens: int = TEXT_TOKENS
    batch: int = 1
    latent_grid: tuple[int, int, int] | None = None  # (frames, height, width) of the video latent

    @property
    def grid(self) -> tuple[int, int, int]:
        """The video latent's (frames, height, width); a single frame row when not given."""
        return self.latent_grid or (1, 1, self.video_tokens)

    @classmethod
    def from_clip(cls, width: int, height: int, frames: int, fps: float, audio_seconds: float | None = None,
                  batch: int = 1) -> TrainShape:
        grid = ((frames - 1) // VAE_TEMPORAL + 1, math.ceil(height / VAE_SPATIAL), math.ceil(width / VAE_SPATIAL))
        seconds = frames / fps if audio_seconds is None else audio_seconds
        return cls(grid[0] * grid[1] * grid[2], int(round(seconds * AUDIO_LATENTS_PER_S)), batch=batch,
                   latent_grid=grid)


@dataclass(frozen=True)
class MemorySettings:
    """The settings that decide a run's memory (config keys in the comments)."""

    dtype: str = "bf16"  # train.dtype
    qtype: str | None = None  # model.qtype when model.quantize (None: not quantized)
    network: str = "lora"  # network.type
    rank: int = 32  # network.linear
    optimizer: str = "adamw"  # train.optimizer
    checkpointing: bool = True  # train.gradient_checkpointing
    offload_percent: float = 0.0  # lever (e): share of the blocks whose weights rest in host memory
    blocks: int | None = None  # None: all of the config's blocks
    cuda: bool = True  # add the CUDA context (not seen by max_memory_allocated)
    connectors: bool = True  # the text connectors rest on the device while training
    train_text_encoder: bool = False  # the connectors carry adapters and run with gradients each step
    # The per-step levers (toolkit/memory/levers.py; docs/memory.md):
    lora_precision: str = "float32"  # (a) "float32" (peft's way) or "compute"
    lora_cast_before_add: bool = False  # (f)
    offload_checkpoints: bool = False  # (b) checkpointed block inputs rest in host memory
    ff_chunk_tokens: int = 0  # (c) feed-forward over chunks of this many tokens (0: off)
    optimizer_offload: bool = False  # (d) optimizer state and step in host memory
    # Released configs only (the components' sizes are known): what else stays on the device
    # while training. Without model.low_vram the VAEs and vocoder stay; the text encoder stays
    # unless low_vram or train.unload_text_encoder moves it off.
    text_encoder_on_device: bool = False
    vaes_on_device: bool = False
    quantize_te: bool = False
    sampling: bool = True  # the run samples: the decoders rest on the host between samplings

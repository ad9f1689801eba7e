"""Host memory (RAM) a run holds while it trains, by part: what the plan adds to the device's figure.

- the process itself (RUNTIME_BYTES): Python, torch, diffusers, transformers, peft, data
  loading and, on a GPU, CUDA's libraries (an allowance; see the constant);
- what the offloading levers keep there (estimate.py puts it in `Estimate.host`): offloaded
  blocks in their resting (quantized) form, checkpointed block inputs, the optimizer's float32
  weights, state and gradient buffers;
- the decoders (video VAE, audio VAE, vocoder) resting between samplings when the run samples
  (the phases free the text encoder and the frozen connectors once every prompt is encoded);
- the per-caption text cache (connector outputs, or Gemma's output when the connectors train).

While the transformer loads, the host holds what rests there (offloaded blocks) and one block
read in the compute dtype before it is quantized and placed (`load_transient`; phases.py's
"load" phase); file pages the loader maps are page cache, which the system reclaims, and are
not counted.
"""

from __future__ import annotations

from dataclasses import replace

from toolkit.memory.estimate import Estimate, block_bytes
from toolkit.memory.plan.settings import DTYPE_BYTES, GiB, MemorySettings
from toolkit.memory.sizes import (
    CONNECTORS,
)

# The process itself: 0.4 GiB measured with torch, diffusers, transformers, peft and the
# trainer imported (CPU build, dev machine, 2026-12-07); a run's data loading, allocator caches
# and, on a GPU, CUDA's user-space libraries (cuBLAS, cuDNN) come on top. 3 GiB is an
# allowance for all of it, not a measurement (no GPU here).
RUNTIME_BYTES = 3.0 * GiB
DECODERS_RESTING = "decoders resting for sampling"
# connector output per caption: 1024 tokens x (video + audio width) in the compute dtype
TEXT_TOKENS = 1024


def text_cache_bytes(version: str, settings: MemorySettings, prompts: int, real_tokens: int = 256) -> float:
    """Per-prompt cache: connector outputs (frozen connectors), or Gemma's stacked hidden
    states of the prompt's real tokens (the connectors train and run on them each step)."""
    b = DTYPE_BYTES[settings.dtype]
    if settings.train_text_encoder:
        config = CONNECTORS[version]
        width = config.get("caption_channels", 3840) * config.get("text_proj_in_factor", 49)
        return prompts * real_tokens * width * b
    return prompts * TEXT_TOKENS * (4096 + 2048) * b


def training_host(version: str | None, config: dict, settings: MemorySettings, est: Estimate,
                  prompts: int = 0, decoders: float = 0.0) -> dict[str, float]:
    """Host memory while training, by part (bytes); `decoders`: the decoders' bytes
    (phases.py: decoder_bytes), resting here between samplings when the run samples."""
    parts = {"process (Python, torch, CUDA libraries)": RUNTIME_BYTES}
    parts.update(est.host)
    if version and settings.sampling:
        parts[DECODERS_RESTING] = decoders
    if version and prompts:
        parts["text cache"] = text_cache_bytes(version, settings, prompts)
    return parts


def load_transient(config: dict, settings: MemorySettings) -> float:
    """One block read in the compute dtype before it is quantized and placed."""
    return block_bytes(config, replace(settings, qtype=None))

"""The plan's step term, measured: what a training step adds on the device above what rests there.

Everything that rests on the device (weights, adapters, optimizer state, the checkpointed
inputs of each block) the plan counts by hand (estimate.py). What a step adds on top, at its
peak, is the sum of many small decisions inside diffusers, peft and torch (the rotary and
timestep tables shared by all blocks, the saved tensors of the one block being recomputed,
the feed-forward's transients, the gradients flowing back); it is measured here instead, with
the full-size trace (trace.py) of a ONE-block model at three clip shapes:

    extra = trace peak - what rested before the step - one block's checkpointed inputs

Every term is linear in the token counts (attention keeps O(tokens) state), so three shapes
give a per-video-token, a per-audio-token and a fixed part, for any clip. The measured
figures are kept in calibration.json, keyed by the settings that change them (`step_key`);
`python bench/memory_calibrate.py` measures them again. The 48-block trace of the card
table's rows (bench/memory_trace.py) checks that this extrapolates.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from toolkit.memory.activations import BlockActivations
from toolkit.memory.plan.settings import DTYPE_BYTES, MemorySettings, TrainShape
from toolkit.memory.sizes import AUDIO_DIM, VIDEO_DIM

TABLE = Path(__file__).with_name("calibration.json")
# Latent grids (frames, height, width) and audio tokens of the three calibration clips: the
# card table's 768x768x121 + 5 s, half its frames, and twice its audio.
SHAPES = ((16, 24, 24, 125), (8, 24, 24, 125), (16, 24, 24, 250))


def qbackend(qtype: str | None) -> str:
    """What a quantization type changes in a step: nothing, quanto's layers, torchao's."""
    if not qtype:
        return "none"
    return "torchao" if qtype.startswith("torchao") or qtype in ("int8", "float8") or qtype.startswith("uint") else "quanto"


def step_key(version: str, settings: MemorySettings, offloaded: bool | None = None) -> str:
    """The settings a step's extra depends on (the rest the plan counts by hand); `offloaded`:
    whether any block is swapped (by default: a share above zero)."""
    offloaded = settings.offload_percent > 0 if offloaded is None else offloaded
    return "|".join([
        version, settings.dtype, qbackend(settings.qtype), settings.network,
        f"lora_precision={settings.lora_precision}", f"cast_before_add={int(settings.lora_cast_before_add)}",
        f"ff_chunk={settings.ff_chunk_tokens}", f"offloaded={int(offloaded)}",
        f"checkpointing={int(settings.checkpointing)}", f"train_text_encoder={int(settings.train_text_encoder)}",
    ])


def boundary_bytes(shape: TrainShape, dtype_bytes: int) -> int:
    """One block's checkpointed inputs: the video and audio token streams in the compute dtype."""
    return (shape.video_tokens * VIDEO_DIM + shape.audio_tokens * AUDIO_DIM) * dtype_bytes * shape.batch


def measure(version: str, settings: MemorySettings, trace_step, progress=None) -> BlockActivations:
    """Trace a one-block model at the three SHAPES and fit the linear extra. `trace_step`: the
    run's step under fake tensors (jobs/process/memory_trace.py; the run builds the parts it
    traces, which toolkit/ does not import)."""
    one = replace(settings, blocks=1, offload_percent=1.0 if settings.offload_percent > 0 else 0.0)
    points = []
    for frames, height, width, audio in SHAPES:
        shape = TrainShape(frames * height * width, audio, latent_grid=(frames, height, width))
        result = trace_step(version, shape, one, blocks=1, progress=progress)
        extra = result.device_peak - result.device_resting - boundary_bytes(shape, DTYPE_BYTES[settings.dtype])
        points.append((shape.video_tokens, shape.audio_tokens, extra))
    (v0, a0, x0), (v1, _, x1), (_, a2, x2) = points
    per_video = (x0 - x1) / (v0 - v1)
    per_audio = (x2 - x0) / (a2 - a0)
    return BlockActivations(per_video, per_audio, x0 - per_video * v0 - per_audio * a0)


def load_table(path: Path = TABLE) -> dict[str, BlockActivations]:
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {key: BlockActivations(*values) for key, values in raw["extra"].items()}


def lookup(version: str, settings: MemorySettings, offloaded: bool) -> BlockActivations | None:
    """The measured extra of these settings, or None when they were not measured."""
    return _table().get(step_key(version, settings, offloaded))


def chunk_saving_per_token(version: str, settings: MemorySettings, offloaded: bool) -> float | None:
    """Bytes a feed-forward chunk of any size saves per video token beyond the chunk, measured.

    Chunking keeps one chunk's 4x-wide hidden layer instead of the whole sequence's, so the
    step's extra drops by the same amount per token past the chunk whatever its size: the
    per-video-token slopes of a measured chunk size and of no chunks (same other settings)
    differ by exactly that (every calibration shape is longer than the measured chunks). None
    when no chunk size was measured for these settings."""
    table = _table()
    unchunked = table.get(step_key(version, replace(settings, ff_chunk_tokens=0), offloaded))
    if unchunked is None:
        return None
    for key, chunked in sorted(table.items()):
        size = key.split("|ff_chunk=")[1].split("|")[0]
        if size != "0" and key == step_key(version, replace(settings, ff_chunk_tokens=int(size)), offloaded):
            return unchunked.per_video_token - chunked.per_video_token
    return None


_CACHE: dict[str, dict[str, BlockActivations]] = {}


def _table() -> dict[str, BlockActivations]:
    if "table" not in _CACHE:
        _CACHE["table"] = load_table()
    return _CACHE["table"]

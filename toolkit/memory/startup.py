"""Before the model loads: the memory this run expects on its device, and what would fit if it will not.

Uses the memory model (estimate.py) with the run's own settings: the transformer config of
the local model folder (or the released config of the version the config names), the largest
training item (resolution, frames, audio, batch), dtype, quantization, network, optimizer,
checkpointing and offloading. The capacity is the GPU's memory (or, on CPU, the machine's
RAM); LTX2_PLAN_DEVICE_GB plans against another size instead (a 24 GB card from this
machine, for instance).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
import torch

from toolkit.errors import UserInputError
from toolkit.memory.estimate import GiB, MemorySettings, TrainShape, caching_bytes, estimate
from toolkit.memory.real_configs import transformer_config, version_of
from toolkit.model_files.file_index import CONFIGS_METADATA, read_header
from toolkit.model_files.resolve import resolve_model_files

PLAN_ENV = "LTX2_PLAN_DEVICE_GB"
HEADROOM = 0.95  # allocator fragmentation and what other processes hold: plan on 95%


@dataclass
class MemoryPlan:
    expected: float  # bytes on the device
    capacity: float
    device: str
    fits: bool
    suggestions: list[str]
    breakdown: str


def run_transformer_config(model) -> dict:
    """The transformer config of the run: the local folder's config.json, else the one a local
    weight file records, else the released one."""
    path = Path(model.name_or_path).expanduser() / "transformer" / "config.json"
    if path.is_file():
        config = json.loads(path.read_text(encoding="utf-8"))
        return {k: v for k, v in config.items() if not k.startswith("_")}
    version = version_of(getattr(model, "arch", None), model.name_or_path)
    recorded = _recorded_transformer_config(model, version)
    return recorded if recorded is not None else transformer_config(version)


def _recorded_transformer_config(model, version: str) -> dict | None:
    """The transformer config stored in a local single or split weight file. The loader builds
    the model from it when present (files written by toolkit.model_files.write, such as the tiny
    models), so sizing it by the released config would warn of tens of GiB for a tiny model.
    Lightricks' own files record none: they get the released config. Only local paths are read
    (a hub id is not looked up here; the start-up checks have already vetted the files)."""
    if not Path(model.name_or_path).expanduser().exists():
        return None
    files = resolve_model_files(version, model.name_or_path, getattr(model, "model_kwargs", None))
    weights = (files or {}).get("checkpoint") or (files or {}).get("dit")
    if weights is None:
        return None
    _, metadata = read_header(weights, "model file")
    stored = json.loads(metadata.get(CONFIGS_METADATA, "{}")).get("transformer")
    return {k: v for k, v in stored.items() if not k.startswith("_")} if stored else None


def run_shape(config) -> TrainShape:
    """The largest item a step sees: every dataset's largest resolution, its frames and audio."""
    best = None
    for ds in config.datasets:
        res = max(ds.resolution)
        seconds = ds.num_frames / ds.fps if (ds.do_audio and ds.num_frames > 1) else 0.0
        shape = TrainShape.from_clip(res, res, ds.num_frames, ds.fps, seconds, batch=config.train.batch_size)
        if best is None or shape.video_tokens + shape.audio_tokens > best.video_tokens + best.audio_tokens:
            best = shape
    return best


def run_settings(config, cuda: bool) -> MemorySettings:
    model, train = config.model, config.train
    return MemorySettings(
        dtype=train.dtype if train.dtype in ("bf16", "fp16", "fp32") else "bf16",
        qtype=model.qtype if model.quantize else None,
        network="dora" if config.network.type == "dora" else "lora",
        rank=config.network.linear, optimizer=train.optimizer, checkpointing=train.gradient_checkpointing,
        offload_percent=model.layer_offloading_transformer_percent if model.layer_offloading else 0.0,
        cuda=cuda, text_encoder_on_device=not (model.low_vram or train.unload_text_encoder),
        vaes_on_device=not model.low_vram, quantize_te=model.quantize_te)


def device_capacity(device) -> tuple[float, str]:
    planned = os.environ.get(PLAN_ENV)
    if planned:
        try:
            # a "24 GB" card has 24 GiB
            return float(planned) * GiB, f"a {float(planned):.4g} GB card (planned: {PLAN_ENV})"
        except ValueError as exc:
            raise UserInputError(f"{PLAN_ENV}={planned!r} is not a number of GB (e.g. 24)") from exc
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return float(props.total_memory), f"{device} ({props.name})"

    return float(psutil.virtual_memory().total), "cpu (RAM)"


def expected_bytes(config: dict, shape: TrainShape, settings: MemorySettings) -> float:
    """The larger of the training step and the caching phase before it."""
    return max(estimate(config, shape, settings).total, caching_bytes(config, settings))


def _fits(config: dict, shape: TrainShape, settings: MemorySettings, capacity: float) -> bool:
    return expected_bytes(config, shape, settings) <= capacity * HEADROOM


def suggest(config: dict, shape: TrainShape, settings: MemorySettings, capacity: float,
            resolution: int, frames: int, fps: float) -> list[str]:
    """Settings that would fit, named as the config keys to change: the fewest steps of the
    ladder checkpointing -> low_vram -> quantize -> quantize_te -> offloading -> resolution,
    and apart from that the largest resolution that fits with the settings as they are."""
    out = []
    changes: list[str] = []
    current = settings
    ladder = [
        ("train.gradient_checkpointing: true", lambda s: replace(s, checkpointing=True), not settings.checkpointing),
        ("model.low_vram: true", lambda s: replace(s, text_encoder_on_device=False, vaes_on_device=False),
         settings.text_encoder_on_device or settings.vaes_on_device),
        ("model.quantize: true (qtype qfloat8)", lambda s: replace(s, qtype="qfloat8"), settings.qtype is None),
        ("model.quantize_te: true", lambda s: replace(s, quantize_te=True), not settings.quantize_te),
    ]
    found = False
    for label, change, applies in ladder:
        if not applies:
            continue
        changed = change(current)
        if expected_bytes(config, shape, changed) >= expected_bytes(config, shape, current):
            continue  # no help for this model (a component it does not have)
        current = changed
        changes.append(label)
        if _fits(config, shape, current, capacity):
            found = True
            break
    if not found:
        for tenth in range(int(settings.offload_percent * 10) + 1, 11):
            if _fits(config, shape, replace(current, offload_percent=tenth / 10), capacity):
                changes.append(f"model.layer_offloading: true, layer_offloading_transformer_percent: {tenth / 10:g}")
                found = True
                break
    if not found:  # everything offloaded is not enough: the largest resolution that fits with it
        offloaded = replace(current, offload_percent=1.0)
        for smaller in range(resolution - 64, 127, -64):
            small = TrainShape.from_clip(smaller, smaller, frames, fps, shape.audio_tokens / 25.0, batch=shape.batch)
            if _fits(config, small, offloaded, capacity):
                changes += ["model.layer_offloading: true, layer_offloading_transformer_percent: 1",
                            f"datasets[].resolution: {smaller}"]
                found = True
                break
    if found:
        out.append(", ".join(changes))
    for smaller in range(resolution - 64, 127, -64):
        small = TrainShape.from_clip(smaller, smaller, frames, fps, shape.audio_tokens / 25.0, batch=shape.batch)
        if _fits(config, small, settings, capacity):
            out.append(f"datasets[].resolution: {smaller}")
            break
    return out


def plan(config, device) -> MemoryPlan:
    """The expected memory of `config` (a ProcessConfig) on `device`, and what would fit when it does not."""
    transformer = run_transformer_config(config.model)
    shape = run_shape(config)
    settings = run_settings(config, cuda=device.type == "cuda")
    est = estimate(transformer, shape, settings)
    expected = expected_bytes(transformer, shape, settings)
    if device.type != "cuda":  # offloaded blocks rest in the same memory
        expected += sum(est.host.values())
    capacity, name = device_capacity(device)
    fits = expected <= capacity * HEADROOM
    suggestions = []
    if not fits:
        largest = max((ds for ds in config.datasets), key=lambda ds: max(ds.resolution))
        suggestions = suggest(transformer, shape, settings, capacity, max(largest.resolution),
                              largest.num_frames, largest.fps)
    return MemoryPlan(expected, capacity, name, fits, suggestions, est.table())


def size(n: float) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / 2**20:.1f} MiB"


def describe(p: MemoryPlan) -> tuple[str, str | None]:
    """(the start-up line, the warning or None)."""
    line = f"expected memory on {p.device}: {size(p.expected)} of {size(p.capacity)} (docs/memory.md)"
    if p.fits:
        return line, None
    if p.suggestions:
        fix = "; or ".join(p.suggestions)
        return line, (f"this run needs about {size(p.expected)} but {p.device} has {size(p.capacity)}: "
                      f"it will likely run out of memory. Settings that would fit: {fix}")
    return line, (f"this run needs about {size(p.expected)} but {p.device} has {size(p.capacity)}, "
                  f"and no single change of quantization, offloading, checkpointing or resolution fits: "
                  f"use a larger card, fewer frames or a smaller network rank")

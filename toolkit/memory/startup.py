"""Before the model loads: the run's memory plan on its device and its host, and what to change if it will not fit.

The plan (toolkit/memory/plan/resolve.py) takes the run's own settings: the transformer
config of the local model folder (or the released config of the version the config names),
the largest training item (resolution, frames, audio, batch), dtype, network, optimizer,
checkpointing, and every memory key the config sets explicitly; the keys left unset or
"auto" it resolves for the card and the host RAM. The device's capacity is the GPU's memory
(on a CPU, the machine's RAM: one memory), the host's what RAM is available now;
LTX2_PLAN_DEVICE_GB and LTX2_PLAN_HOST_GB plan against other sizes instead (a 12 GB card and
32 GB of RAM from this machine, for instance).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import psutil
import torch

from toolkit.errors import UserInputError
from toolkit.family.registry import family_for_arch
from toolkit.memory.estimate import GiB, MemorySettings, TrainShape, release_of
from toolkit.memory.plan.phases import ComponentSizes, decode_room
from toolkit.memory.plan.resolve import HEADROOM, Choices, Resolved, host_advice, resolve

PLAN_ENV = "LTX2_PLAN_DEVICE_GB"
HOST_PLAN_ENV = "LTX2_PLAN_HOST_GB"


@dataclass
class MemoryPlan:
    expected: float  # bytes on the device at the run's peak
    capacity: float
    device: str
    fits: bool
    suggestions: list[str]
    resolved: Resolved | None
    host_expected: float  # bytes of host memory at the run's peak (0 on a CPU: one memory)
    host_capacity: float
    host_name: str
    host_fits: bool
    host_advice: list[str]

    @property
    def sample_decode_room(self) -> float | None:
        """Room for a sample's VAE decode on the device: what the planned training step's own
        work holds, less the decoders (plan/phases.py: decode_room); None without a plan of a
        released version (no decoder sizes)."""
        r = self.resolved
        if r is None or not r.version:
            return None
        return decode_room(r.version, r.settings.dtype, r.memory.phase("train"), r.memory.estimate, r.sizes)


def run_transformer_config(model) -> dict:
    """The transformer config of the run, as its family reads it from the model's file headers
    (a local folder's config.json, a config a weight file records, else the released one)."""
    return family_for_arch(getattr(model, "arch", None) or "").run_transformer_config(model)


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
    """What the plan takes as given from a run's config (not a memory choice), plus today's
    values of the choices (what the run would do with no plan: explicit values, levers off)."""
    model, train = config.model, config.train
    offload = model.layer_offloading_transformer_percent if model.layer_offloading else 0.0
    precision = train.lora_precision if train.lora_precision != "auto" else "float32"
    return MemorySettings(
        dtype=train.dtype if train.dtype in ("bf16", "fp16", "fp32") else "bf16",
        qtype=model.qtype if model.quantize else None,
        network="dora" if config.network.type == "dora" else "lora",
        rank=config.network.linear, optimizer=train.optimizer, checkpointing=train.gradient_checkpointing,
        offload_percent=offload, cuda=cuda, connectors=train.train_text_encoder,
        train_text_encoder=train.train_text_encoder, lora_precision=precision,
        lora_cast_before_add=bool(train.lora_cast_before_add), offload_checkpoints=bool(train.offload_checkpoints),
        ff_chunk_tokens=train.ff_chunk_tokens or 0, optimizer_offload=bool(train.optimizer_offload),
        sampling=not train.disable_sampling and bool(config.sample.samples))


def run_choices(config) -> Choices:
    """The run's explicit memory choices; None where a key is unset or "auto" (the plan picks)."""
    model, train = config.model, config.train
    offload = None
    if model.layer_offloading is not None:
        offload = model.layer_offloading_transformer_percent if model.layer_offloading else 0.0
    return Choices(
        quantize=model.quantize, qtype=model.qtype, offload_percent=offload,
        lora_precision=None if train.lora_precision == "auto" else train.lora_precision,
        lora_cast_before_add=train.lora_cast_before_add, offload_checkpoints=train.offload_checkpoints,
        ff_chunk_tokens=train.ff_chunk_tokens, optimizer_offload=train.optimizer_offload,
        text_encoder_placement=None if model.text_encoder_placement == "auto" else model.text_encoder_placement,
        text_encoder_qtype=model.qtype_te if model.quantize_te else None,
        quantize_te=model.quantize_te if "quantize_te" in model.model_fields_set else None,
        vae_tiling=None if model.vae_tiling == "auto" else bool(model.vae_tiling))


def device_capacity(device) -> tuple[float, str]:
    planned = os.environ.get(PLAN_ENV)
    if planned:
        return _planned_gb(PLAN_ENV, planned), f"a {float(planned):.4g} GB card (planned: {PLAN_ENV})"
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return float(props.total_memory), f"{device} ({props.name})"
    return float(psutil.virtual_memory().total), "cpu (RAM)"


def host_capacity() -> tuple[float, str]:
    """The host memory the run may use: what is available now (LTX2_PLAN_HOST_GB plans another)."""
    planned = os.environ.get(HOST_PLAN_ENV)
    if planned:
        return _planned_gb(HOST_PLAN_ENV, planned), f"{float(planned):.4g} GB of RAM (planned: {HOST_PLAN_ENV})"
    available = float(psutil.virtual_memory().available)
    return available, f"{available / GiB:.1f} GiB of RAM available"


def _planned_gb(env: str, value: str) -> float:
    try:
        return float(value) * GiB  # a "24 GB" card has 24 GiB
    except ValueError as exc:
        raise UserInputError(f"{env}={value!r} is not a number of GB (e.g. 24)") from exc


def plan(config, device) -> MemoryPlan:
    """The memory plan of `config` (a ProcessConfig) on `device`: the auto settings resolved for
    its card and its host RAM (toolkit/memory/plan/resolve.py), and what to change when
    something does not fit."""
    transformer = run_transformer_config(config.model)
    version = release_of(transformer)
    # a local folder's own component sizes (a cut-down or variant folder), else the release's
    found = family_for_arch(getattr(config.model, "arch", None) or "").run_component_sizes(config.model)
    sizes = ComponentSizes.of(version, found) if version else None
    shape = run_shape(config)
    cuda = device.type == "cuda" or bool(os.environ.get(PLAN_ENV))
    base, choices = run_settings(config, cuda=cuda), run_choices(config)
    capacity, name = device_capacity(device)
    host, host_name = host_capacity()
    if not cuda:  # one memory: the host is the device, so nothing is moved to it (levers.py's rule)
        choices = replace(choices, **{key: getattr(choices, key) if getattr(choices, key) is not None else off
                                      for key, off in (("offload_percent", 0.0), ("offload_checkpoints", False),
                                                       ("optimizer_offload", False), ("ff_chunk_tokens", 0))})
        resolved = resolve(version, transformer, shape, base, choices, capacity, None, sizes=sizes)
        expected = resolved.memory.device_peak + sum(resolved.memory.estimate.host.values())
        fits = expected <= capacity * HEADROOM
        return MemoryPlan(expected, capacity, name, fits, [] if fits else _suggest(resolved, config), resolved,
                          0.0, 0.0, "", True, [])
    resolved = resolve(version, transformer, shape, base, choices, capacity, host, sizes=sizes)
    suggestions = [] if resolved.device_fits else _suggest(resolved, config)
    return MemoryPlan(resolved.memory.device_peak, capacity, name, resolved.device_fits, suggestions, resolved,
                      resolved.memory.host_peak, host, host_name, resolved.host_fits,
                      [] if resolved.host_fits else host_advice(resolved))


def _suggest(resolved: Resolved, config) -> list[str]:
    """When the run's explicit choices keep it off the card, the fewest config changes that
    fit: quantization alone (the one memory key the plan never turns on by itself), else
    every memory key left to the plan (named by the keys that change), else the largest
    resolution that fits that way."""
    transformer, base = run_transformer_config(config.model), run_settings(config, cuda=True)
    choices = run_choices(config)
    version = resolved.version or None
    if resolved.settings.qtype is None:
        quantized = resolve(version, transformer, resolved.shape, base, replace(choices, quantize=True),
                            resolved.card_bytes, resolved.host_bytes)
        if quantized.device_fits:
            return [", ".join(_changed_keys(resolved.settings, quantized.settings))]
    free = resolve(version, transformer, resolved.shape, base, Choices(qtype=config.model.qtype),
                   resolved.card_bytes, resolved.host_bytes)
    if free.device_fits:
        changed = _changed_keys(resolved.settings, free.settings)
        return [", ".join(changed)] if changed else []
    largest = max((ds for ds in config.datasets), key=lambda ds: max(ds.resolution))
    for smaller in range(max(largest.resolution) - 64, 127, -64):
        shape = TrainShape.from_clip(smaller, smaller, largest.num_frames, largest.fps,
                                     resolved.shape.audio_tokens / 25.0, batch=resolved.shape.batch)
        small = resolve(version, transformer, shape, base, Choices(qtype=config.model.qtype),
                        resolved.card_bytes, resolved.host_bytes)
        if small.device_fits:
            return [", ".join(_changed_keys(resolved.settings, small.settings) + [f"datasets[].resolution: {smaller}"])]
    return []


def _changed_keys(current: MemorySettings, wanted: MemorySettings) -> list[str]:
    out = []
    if wanted.qtype != current.qtype:
        out.append(f"model.quantize: {str(wanted.qtype is not None).lower()}"
                   + (f" (qtype {wanted.qtype})" if wanted.qtype else ""))
    if wanted.offload_percent != current.offload_percent:
        out.append(f"model.layer_offloading: true, layer_offloading_transformer_percent: {wanted.offload_percent:g}"
                   if wanted.offload_percent else "model.layer_offloading: false")
    for key in ("lora_precision", "offload_checkpoints", "ff_chunk_tokens", "optimizer_offload"):
        value = getattr(wanted, key)
        if value != getattr(current, key):
            out.append(f"train.{key}: {str(value).lower() if isinstance(value, bool) else value}")
    return out


def size(n: float) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / 2**20:.1f} MiB"


def describe(p: MemoryPlan) -> tuple[list[str], list[str]]:
    """(the start-up lines, the warnings)."""
    line = f"expected memory on {p.device}: {size(p.expected)} of {size(p.capacity)}"
    if p.host_capacity:
        line += f"; host: {size(p.host_expected)} of {p.host_name}"
    lines = [line + " (docs/memory.md)"] + (p.resolved.lines() if p.resolved is not None else [])
    warnings = []
    if not p.fits:
        if p.suggestions:
            fix = "; or ".join(p.suggestions)
            warnings.append(f"this run needs about {size(p.expected)} but {p.device} has {size(p.capacity)}: "
                            f"it will likely run out of memory. Settings that would fit: {fix}")
        else:
            warnings.append(f"this run needs about {size(p.expected)} but {p.device} has {size(p.capacity)}, "
                            f"and no change of quantization, offloading, checkpointing or resolution fits: "
                            f"use a larger card, fewer frames or a smaller network rank")
    if not p.host_fits:
        advice = "; ".join(p.host_advice) or "a machine with more RAM, or a smaller clip"
        warnings.append(f"host memory is short: this run needs about {size(p.host_expected)} of RAM at its peak "
                        f"({p.resolved.memory.host_phase.name} phase) but {p.host_name}: it may swap or be "
                        f"killed. To need less: {advice}")
    return lines, warnings

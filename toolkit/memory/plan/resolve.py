"""The memory plan of a run: every "auto" memory setting resolved for a card and a host, and what it holds.

    resolved = resolve(version, config, shape, base, choices, card_bytes=12 * GiB, host_bytes=32 * GiB)
    resolved.settings, resolved.fits, resolved.lines()

`base` carries what is not a choice (dtype, network, rank, optimizer, checkpointing, whether
the connectors train, whether the run samples); `choices` what the user set explicitly,
None for "auto". Explicit values are always kept. The auto ones are chosen as the
combination that fits both memories and costs least (`_cost`: the estimated step on the
reference GPU, steptime.py, then the bytes moved over PCIe, then host RAM):

- (a) LoRA in the compute dtype and (f) cast before add: on for bf16 LoRA/DoRA (they cost
  nothing; toolkit/memory/levers.py says why);
- quantization (model.quantize, qtype qfloat8), (c) feed-forward chunks, (b) checkpointed
  inputs on the host, (d) optimizer on the host, (e) block swap (the share of blocks, in
  tenths): every combination is planned, and the cheapest that fits wins (`_cost`: step
  time, then PCIe bytes, then host RAM, then unquantized weights, then device memory);
- caption encoding: Gemma on the device as it is, in 8 bits, in 4 bits, with its layers
  streamed from the host, or on the CPU, the first that fits; clip encoding: whole clips, or
  in tiles (phases.py; the run decides these with toolkit/memory/placement.py's rules, which
  weigh the same sizes).

The device must hold the largest phase within HEADROOM of the card; the host must hold the
largest phase within HOST_HEADROOM of its RAM (the system and other programs keep the rest).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from toolkit.memory.estimate import Estimate
from toolkit.memory.plan.cards import GPUS, Gpu
from toolkit.memory.plan.host import DECODERS_RESTING
from toolkit.memory.plan.phases import (
    VAE_TILE,
    CachingSettings,
    ComponentSizes,
    Phase,
    clip_pixels,
    clips_phase,
    connectors_phase,
    load_phase,
    sampling_phase,
    text_phase,
    training_phase,
)
from toolkit.memory.plan.settings import GiB, MemorySettings, TrainShape
from toolkit.memory.plan.steptime import link_bytes, step_cost

HEADROOM = 0.95  # of the card: allocator fragmentation
HOST_HEADROOM = 0.9  # of the host's RAM: the system, the desktop, the file cache's minimum
AUTO_FF_CHUNK_TOKENS = 4096
REFERENCE_GPU = GPUS[0]  # settings are compared by their step time on an RTX 4090
QUANTIZE_QTYPE = "qfloat8"
TE_QTYPES = (None, "qint8", "qint4")


@dataclass(frozen=True)
class Choices:
    """A run's explicit memory choices (config keys); None where the key is unset or "auto"."""

    quantize: bool | None = None  # model.quantize (qtype: model.qtype)
    qtype: str = QUANTIZE_QTYPE
    offload_percent: float | None = None  # model.layer_offloading + layer_offloading_transformer_percent
    lora_precision: str | None = None  # train.lora_precision
    lora_cast_before_add: bool | None = None  # train.lora_cast_before_add
    offload_checkpoints: bool | None = None  # train.offload_checkpoints
    ff_chunk_tokens: int | None = None  # train.ff_chunk_tokens
    optimizer_offload: bool | None = None  # train.optimizer_offload
    text_encoder_placement: str | None = None  # model.text_encoder_placement
    text_encoder_qtype: str | None = None  # model.qtype_te when model.quantize_te is true
    quantize_te: bool | None = None  # model.quantize_te
    vae_tiling: bool | None = None  # model.vae_tiling


@dataclass
class RunMemory:
    phases: list[Phase]
    estimate: Estimate

    @property
    def device_peak(self) -> float:
        return max(p.device_total for p in self.phases)

    @property
    def host_peak(self) -> float:
        return max(p.host_total for p in self.phases)

    @property
    def device_phase(self) -> Phase:
        return max(self.phases, key=lambda p: p.device_total)

    @property
    def host_phase(self) -> Phase:
        return max(self.phases, key=lambda p: p.host_total)

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)


@dataclass
class Resolved:
    version: str
    shape: TrainShape
    settings: MemorySettings
    caching: CachingSettings
    memory: RunMemory
    card_bytes: float | None
    host_bytes: float | None
    reasons: dict[str, str] = field(default_factory=dict)  # setting -> "set in the config" or why auto chose it
    step_seconds: float = 0.0  # on REFERENCE_GPU
    link_bytes: float = 0.0
    sizes: ComponentSizes | None = None  # the components' sizes when not the released version's

    @property
    def device_fits(self) -> bool:
        return self.card_bytes is None or self.memory.device_peak <= self.card_bytes * HEADROOM

    @property
    def host_fits(self) -> bool:
        return self.host_bytes is None or self.memory.host_peak <= self.host_bytes * HOST_HEADROOM

    @property
    def fits(self) -> bool:
        return self.device_fits and self.host_fits

    def settings_line(self) -> str:
        return describe_settings(self.settings, self.caching)

    def lines(self) -> list[str]:
        """The printed plan: settings, device and host at their peaks, by part."""
        mem = self.memory
        auto = sorted(k for k, why in self.reasons.items() if why != "set in the config")
        out = [f"memory plan: {self.settings_line()}" + (f" (chosen by the plan: {', '.join(auto)})" if auto else "")]
        for label, phase, total in (("device", mem.device_phase, mem.device_peak),
                                    ("host", mem.host_phase, mem.host_peak)):
            parts = phase.device if label == "device" else phase.host
            listed = ", ".join(f"{name} {value / GiB:.1f}" for name, value in parts.items() if value >= 0.05 * GiB)
            out.append(f"  {label}: {total / GiB:.1f} GiB at its peak ({phase.name} phase): {listed}")
        return out


def describe_settings(settings: MemorySettings, caching: CachingSettings | None = None) -> str:
    parts = [f"quantize {settings.qtype}" if settings.qtype else "bf16 weights" if settings.dtype == "bf16"
             else f"{settings.dtype} weights"]
    if settings.offload_percent > 0:
        parts.append(f"block swap {settings.offload_percent:.0%}")
    if settings.lora_precision == "compute":
        parts.append("LoRA in bf16" if settings.dtype == "bf16" else f"LoRA in {settings.dtype}")
    elif settings.lora_cast_before_add:
        parts.append("LoRA cast before add")
    if settings.ff_chunk_tokens:
        parts.append(f"FF chunks {settings.ff_chunk_tokens}")
    if settings.offload_checkpoints:
        parts.append("checkpoints on host")
    if settings.optimizer_offload:
        parts.append("optimizer on host")
    if caching is not None:
        te = caching.text_encoder_qtype or "bf16"
        parts.append(f"Gemma {te} on {caching.text_encoder_placement}" if caching.text_encoder_placement != "offload"
                     else f"Gemma {te} streamed")
        if caching.vae_tile:
            parts.append(f"VAE tiles {caching.vae_tile[0]}f x {caching.vae_tile[1]}px")
    return ", ".join(parts)


def run_memory(version: str | None, config: dict, shape: TrainShape, settings: MemorySettings,
               caching: CachingSettings | None = None, prompts: int = 0,
               sizes: ComponentSizes | None = None) -> RunMemory:
    """Every phase's device and host memory (the caching phases only for released versions);
    `sizes`: the components' sizes when not the released version's (a local folder's own)."""
    train, est = training_phase(version, config, shape, settings, prompts, sizes)
    phases = [train]
    if version and caching is not None:
        frames, side = clip_pixels(shape)
        phases = [text_phase(version, settings.dtype, caching, settings.cuda, sizes)]
        if not settings.train_text_encoder:
            phases.append(connectors_phase(version, settings.dtype, settings.cuda, sizes))
        phases += [clips_phase(version, settings.dtype, frames, side, caching.vae_tile, settings.cuda, sizes),
                   load_phase(config, settings, est), train]
    if version and settings.sampling:
        phases.append(sampling_phase(version, config, shape, settings, train, est, sizes=sizes))
    return RunMemory(phases, est)


def _free_levers(base: MemorySettings, choices: Choices, reasons: dict) -> MemorySettings:
    bf16_adapter = base.dtype == "bf16" and base.network in ("lora", "dora")
    if choices.lora_precision is not None:
        precision = choices.lora_precision
        reasons["lora_precision"] = "set in the config"
    else:
        precision = "compute" if bf16_adapter and choices.lora_cast_before_add is not False else "float32"
        reasons["lora_precision"] = "bf16 LoRA: computed in bf16 (no float32 copies)" if precision == "compute" \
            else "not a bf16 LoRA/DoRA"
    if choices.lora_cast_before_add is not None:
        cast = choices.lora_cast_before_add
        reasons["lora_cast_before_add"] = "set in the config"
    else:
        cast = precision == "compute" or (base.dtype in ("bf16", "fp16") and base.network == "lora")
        reasons["lora_cast_before_add"] = "cast to the compute dtype before the add" if cast else "float32 compute"
    return replace(base, lora_precision=precision, lora_cast_before_add=cast)


def _candidates(base: MemorySettings, choices: Choices) -> list[MemorySettings]:
    quantize = [choices.quantize] if choices.quantize is not None else [False, True]
    chunks = [choices.ff_chunk_tokens] if choices.ff_chunk_tokens is not None else [0, AUTO_FF_CHUNK_TOKENS]
    ckpt = [choices.offload_checkpoints] if choices.offload_checkpoints is not None else [False, True]
    optim = [choices.optimizer_offload] if choices.optimizer_offload is not None else [False, True]
    offload = [choices.offload_percent] if choices.offload_percent is not None else [i / 10 for i in range(11)]
    out = []
    for q, c, b, d, e in itertools.product(quantize, chunks, ckpt, optim, offload):
        if b and not base.checkpointing:
            continue
        if d and base.optimizer == "adamw8bit":
            continue  # 8-bit AdamW steps on CUDA only
        out.append(replace(base, qtype=choices.qtype if q else None, ff_chunk_tokens=c or 0, offload_checkpoints=b,
                           optimizer_offload=d, offload_percent=e))
    return out


def _caching_candidates(choices: Choices) -> list[CachingSettings]:
    placements = [choices.text_encoder_placement] if choices.text_encoder_placement not in (None, "auto") \
        else ["device", "offload", "cpu"]
    if choices.quantize_te is False:
        qtypes = [None]
    elif choices.quantize_te:
        qtypes = [choices.text_encoder_qtype or "qint8"]
    else:
        qtypes = list(TE_QTYPES)
    tiles = [None, VAE_TILE] if choices.vae_tiling is None else ([VAE_TILE] if choices.vae_tiling else [None])
    # in the order the plan prefers them: the text encoder on the device as it is, then
    # smaller, then streamed, then on the CPU; whole clips before tiles
    return [CachingSettings(text_encoder_placement=p, text_encoder_qtype=q, vae_tile=t)
            for p in placements for q in qtypes for t in tiles]


def resolve(version: str | None, config: dict, shape: TrainShape, base: MemorySettings, choices: Choices,
            card_bytes: float | None, host_bytes: float | None, prompts: int = 0,
            gpu: Gpu = REFERENCE_GPU, sizes: ComponentSizes | None = None) -> Resolved:
    """The plan (see the module doc). When nothing fits, the candidate with the least device
    memory that the host can hold (or simply the least device memory) comes back, not fitting."""
    reasons: dict[str, str] = {}
    base = _free_levers(base, choices, reasons)
    caching = _choose_caching(version, shape, base, choices, card_bytes, host_bytes, reasons, sizes)
    best = None
    for settings in _candidates(base, choices):
        seconds = step_cost(version, config, shape, settings, gpu).seconds if version else 0.0
        memory = run_memory(version, config, shape, settings, caching, prompts, sizes)
        candidate = Resolved(version or "", shape, settings, caching, memory, card_bytes, host_bytes, dict(reasons),
                             seconds, link_bytes(config, shape, settings), sizes)
        if best is None or _better(candidate, best):
            best = candidate
    _explain(best, choices)
    return best


def _cost(r: Resolved) -> tuple:
    """What "cheapest" means among settings that fit: the estimated step time (to a tenth of a
    second; transfers hidden behind compute cost nothing there), then the bytes moved over
    PCIe (hidden or not, each one is a chance to stall), then host RAM, then
    full-precision weights over quantized ones, then device memory."""
    return (round(r.step_seconds, 1), r.link_bytes, round(r.memory.host_peak / GiB, 1),
            r.settings.qtype is not None, r.memory.device_peak)


def _better(a: Resolved, b: Resolved) -> bool:
    """Fitting beats not fitting; among fitting ones the cheapest (`_cost`); among the rest,
    the one whose host fits, then the least device memory."""
    if a.fits != b.fits:
        return a.fits
    if a.fits:
        return _cost(a) < _cost(b)
    if a.host_fits != b.host_fits:
        return a.host_fits
    return a.memory.device_peak < b.memory.device_peak


def _choose_caching(version, shape, base, choices, card_bytes, host_bytes, reasons,
                    sizes: ComponentSizes | None = None) -> CachingSettings | None:
    if not version:
        return None
    candidates = _caching_candidates(choices)
    frames, side = clip_pixels(shape)
    text_ok = clip_ok = None
    for caching in candidates:
        text = text_phase(version, base.dtype, caching, base.cuda, sizes)
        if text_ok is None and _phase_fits(text, card_bytes, host_bytes):
            text_ok = caching
    for caching in candidates:
        clips = clips_phase(version, base.dtype, frames, side, caching.vae_tile, base.cuda, sizes)
        if clip_ok is None and _phase_fits(clips, card_bytes, host_bytes):
            clip_ok = caching
    text_ok = text_ok or candidates[-1]
    clip_ok = clip_ok or candidates[-1]
    chosen = replace(text_ok, vae_tile=clip_ok.vae_tile)
    for key, explicit in (("text_encoder_placement", choices.text_encoder_placement not in (None, "auto")),
                          ("vae_tiling", choices.vae_tiling is not None)):
        reasons[key] = "set in the config" if explicit else "the first that fits, in the order of docs/memory.md"
    return chosen


def _phase_fits(phase: Phase, card_bytes, host_bytes) -> bool:
    return ((card_bytes is None or phase.device_total <= card_bytes * HEADROOM)
            and (host_bytes is None or phase.host_total <= host_bytes * HOST_HEADROOM))


def _explain(resolved: Resolved, choices: Choices) -> None:
    s = resolved.settings
    for key, explicit in (("quantize", choices.quantize), ("layer_offloading", choices.offload_percent),
                          ("offload_checkpoints", choices.offload_checkpoints),
                          ("ff_chunk_tokens", choices.ff_chunk_tokens), ("optimizer_offload", choices.optimizer_offload)):
        if explicit is not None:
            resolved.reasons[key] = "set in the config"
    auto = {"quantize": s.qtype is not None, "layer_offloading": s.offload_percent > 0,
            "offload_checkpoints": s.offload_checkpoints, "ff_chunk_tokens": bool(s.ff_chunk_tokens),
            "optimizer_offload": s.optimizer_offload}
    for key, on in auto.items():
        if key not in resolved.reasons:
            resolved.reasons[key] = ("on: the fastest settings that fit" if on else "off: not needed to fit") \
                if resolved.fits else "nothing fits: the settings with the least device memory"


def host_advice(resolved: Resolved) -> list[str]:
    """What to change when the host's RAM is short: the config keys whose change lowers the
    host's peak, each with what it saves (and what it costs the device)."""
    s = resolved.settings
    host = resolved.memory.host_phase
    tips = []
    if s.offload_percent > 0:
        tips.append(f"model.layer_offloading_transformer_percent lower than {s.offload_percent:g} (each tenth keeps "
                    f"{resolved.memory.estimate.host.get('offloaded blocks', 0) / max(s.offload_percent * 10, 1) / GiB:.1f} "
                    "GiB more on the device instead)")
    if s.offload_percent > 0 and not s.qtype:
        tips.append("model.quantize: true (offloaded blocks rest in 8 bits: half the host memory)")
    if s.offload_checkpoints:
        tips.append("train.offload_checkpoints: false (the checkpointed inputs stay on the device)")
    if s.optimizer_offload:
        tips.append("train.optimizer_offload: false (the optimizer state stays on the device)")
    if host.name == "text":
        tips.append("model.text_encoder_placement: device with model.quantize_te: true (Gemma in 8 bits on the card)")
    if DECODERS_RESTING in host.host:
        tips.append("train.disable_sampling: true (the decoders are freed after caching)")
    return tips

"""The per-step memory levers of a run, each resolved from its config key in this one place.

| lever | config key | what it does (the code) |
|---|---|---|
| (a) | train.lora_precision | LoRA/DoRA math in the compute dtype, no float32 input copies (lora_precision.py) |
| (f) | train.lora_cast_before_add | adapter output cast to the compute dtype before the add (lora_precision.py) |
| (b) | train.offload_checkpoints | checkpointed block inputs rest in host memory (checkpoint_offload.py) |
| (c) | train.ff_chunk_tokens | feed-forward over token chunks, each recomputed in backward (ff_chunks.py) |
| (d) | train.optimizer_offload | optimizer state and step in host memory (optimizer_offload.py) |
| (e) | model.layer_offloading | block swap: weights rest on the host once, quantized, prefetched (offload.py) |

A key left unset (null, or `auto`) is chosen at start-up by the memory plan on a GPU
(toolkit/memory/plan/resolve.py: the fastest settings that fit the card and the host's RAM,
for this clip shape; `resolve_levers(..., planned)`). Without a plan (no estimate for the
model, or a CPU run) this simple rule chooses:

- (a) and (f) cost nothing and change only rounding (bench/lora_precision.py: within
  seed-to-seed noise), so they are on whenever the compute dtype is bf16 ((f) also for fp16;
  (a) stays float32 under fp16, whose gradients would underflow without loss scaling).
- (b), (c) and (d) trade time or host memory for device memory, so they are on only when the
  run already says memory is tight (model.layer_offloading or model.low_vram) and a GPU is
  the device; on a CPU the host is the device, and they would only cost time.
- (e) stays as the user set it (off when unset): how many blocks to swap is the plan's call.

This module is imported by the config schema (no torch at import time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ff_chunk_tokens chosen by the rule: a quarter of a 768x768x121 clip's 9216 video tokens.
AUTO_FF_CHUNK_TOKENS = 4096
HOST_OPTIMIZERS = ("adamw", "prodigy", "dadaptation", "adafactor")  # adamw8bit steps on CUDA only


@dataclass(frozen=True)
class Levers:
    """The resolved levers: plain values, no `auto`."""

    lora_precision: str = "float32"  # "float32" | "compute"
    lora_cast_before_add: bool = False
    offload_checkpoints: bool = False
    ff_chunk_tokens: int = 0  # 0: off
    optimizer_offload: bool = False
    layer_offloading: bool = False
    offload_percent: float = 1.0  # model.layer_offloading_transformer_percent, or the plan's share
    # key -> why it has its value ("set in the config" or the rule that chose it)
    reasons: dict[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        """One start-up line: every lever and its value."""
        parts = [f"lora_precision={self.lora_precision}", f"lora_cast_before_add={self.lora_cast_before_add}",
                 f"offload_checkpoints={self.offload_checkpoints}",
                 f"ff_chunk_tokens={self.ff_chunk_tokens or 'off'}", f"optimizer_offload={self.optimizer_offload}",
                 f"layer_offloading={self.layer_offloading}"]
        auto = sorted(k for k, why in self.reasons.items() if why != "set in the config" and not why.startswith("implied"))
        return "memory levers: " + ", ".join(parts) + (f" (chosen automatically: {', '.join(auto)})" if auto else "")


def lever_config_problems(process) -> list[str]:
    """Combinations of explicit lever values that cannot work (the schema's cross-checks)."""
    train, model = process.train, process.model
    problems = []
    if train.lora_precision == "compute" and train.lora_cast_before_add is False:
        problems.append("train.lora_cast_before_add: false needs train.lora_precision: float32 (with compute "
                        "precision the adapter output is already in train.dtype before the add)")
    if process.network.type == "lokr" and (train.lora_precision == "compute" or train.lora_cast_before_add):
        problems.append("train.lora_precision: compute and train.lora_cast_before_add apply to network.type lora "
                        "and dora; LoKr keeps peft's float32 math (leave them unset)")
    if train.offload_checkpoints and not train.gradient_checkpointing:
        problems.append("train.offload_checkpoints moves the inputs of checkpointed blocks: it needs "
                        "train.gradient_checkpointing: true")
    if train.optimizer_offload and train.optimizer not in HOST_OPTIMIZERS:
        problems.append(f"train.optimizer_offload cannot step optimizer '{train.optimizer}' on the host (it runs "
                        f"on CUDA only): use one of {', '.join(HOST_OPTIMIZERS)}, or optimizer_offload: false")
    if train.optimizer_offload and model.fsdp:
        problems.append("train.optimizer_offload cannot be combined with model.fsdp (the optimizer state is "
                        "sharded over the GPUs instead)")
    return problems


def resolve_levers(process, device_type: str, planned=None) -> Levers:
    """The levers of run config `process` (a validated ProcessConfig) on a `device_type`
    ("cuda", "cpu", "mps") device: explicit values kept, unset ones chosen by the start-up
    memory plan when there is one (`planned`: the plan's MemorySettings, for a GPU), else by
    the rule above."""
    train, model = process.train, process.model
    reasons: dict[str, str] = {}
    if planned is not None and device_type == "cuda":
        return _from_plan(process, planned)

    def pick(key: str, value, auto, why: str):
        if value is not None:
            reasons[key] = "set in the config"
            return value
        reasons[key] = why
        return auto

    low_precision = train.dtype in ("bf16", "fp16")
    tight = bool(model.layer_offloading or model.low_vram) and device_type == "cuda"
    tight_why = ("memory is tight (layer_offloading or low_vram on a GPU)" if tight
                 else "memory is not tight (no layer_offloading or low_vram on a GPU)")
    network_ok = process.network.type in ("lora", "dora")
    if train.lora_precision != "auto":
        precision = train.lora_precision
        reasons["lora_precision"] = "set in the config"
    elif train.dtype == "bf16" and network_ok and train.lora_cast_before_add is not False:
        precision, reasons["lora_precision"] = "compute", "bf16 LoRA/DoRA: compute-dtype math"
    else:
        precision, reasons["lora_precision"] = "float32", "not a bf16 LoRA/DoRA, or float32 accumulation asked"
    if network_ok and precision == "float32":
        cast = pick("lora_cast_before_add", train.lora_cast_before_add, low_precision,
                    "cast first in bf16/fp16" if low_precision else "float32 compute: nothing to cast")
    else:  # compute precision adds in the compute dtype already; LoKr has no separate add
        cast = precision == "compute" and network_ok
        reasons["lora_cast_before_add"] = "implied by lora_precision" if network_ok else "LoKr: no separate add"
    checkpoints = pick("offload_checkpoints", train.offload_checkpoints,
                       tight and train.gradient_checkpointing, tight_why)
    chunk = pick("ff_chunk_tokens", train.ff_chunk_tokens, AUTO_FF_CHUNK_TOKENS if tight else 0, tight_why)
    optimizer = pick("optimizer_offload", train.optimizer_offload,
                     tight and train.optimizer in HOST_OPTIMIZERS and not model.fsdp, tight_why)
    offload = pick("layer_offloading", model.layer_offloading, False, "off unless set (the plan says when)")
    return Levers(lora_precision=precision, lora_cast_before_add=bool(cast), offload_checkpoints=bool(checkpoints),
                  ff_chunk_tokens=int(chunk), optimizer_offload=bool(optimizer), layer_offloading=bool(offload),
                  offload_percent=model.layer_offloading_transformer_percent, reasons=reasons)


def _from_plan(process, planned) -> Levers:
    """Explicit values kept; the rest as the memory plan resolved them for this card and host
    (toolkit/memory/plan/resolve.py: the fastest settings that fit, said in the start-up plan)."""
    train, model = process.train, process.model
    why = "chosen by the memory plan for this card and RAM"
    reasons = {}
    for key, explicit in (("lora_precision", train.lora_precision != "auto"),
                          ("lora_cast_before_add", train.lora_cast_before_add is not None),
                          ("offload_checkpoints", train.offload_checkpoints is not None),
                          ("ff_chunk_tokens", train.ff_chunk_tokens is not None),
                          ("optimizer_offload", train.optimizer_offload is not None),
                          ("layer_offloading", model.layer_offloading is not None)):
        reasons[key] = "set in the config" if explicit else why
    offload = planned.offload_percent > 0
    percent = model.layer_offloading_transformer_percent if model.layer_offloading is not None else planned.offload_percent
    return Levers(lora_precision=planned.lora_precision, lora_cast_before_add=planned.lora_cast_before_add,
                  offload_checkpoints=planned.offload_checkpoints, ff_chunk_tokens=planned.ff_chunk_tokens,
                  optimizer_offload=planned.optimizer_offload, layer_offloading=offload,
                  offload_percent=percent if offload else 1.0, reasons=reasons)

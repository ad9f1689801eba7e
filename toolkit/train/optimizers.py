"""The optimizers and learning-rate schedules a run builds (`train.optimizer`, `train.lr_scheduler`).

What `run.py --validate` checks without torch (each optimizer's package, each schedule's
parameters) is in optimizer_rules.py; this module is the heavy half that builds them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from transformers.optimization import Adafactor

from toolkit.errors import UserInputError
from toolkit.train.optimizer_rules import check_scheduler_params


def _adamw(params, lr, **kw):
    """AdamW, fused where torch has the kernel for the parameters' device (CPU and CUDA):
    one kernel for all the adapter's small tensors instead of a loop of many tiny ops."""
    params = list(params)
    if "fused" not in kw and "foreach" not in kw:
        kw["fused"] = _fused_adam_supported(params)
    return torch.optim.AdamW(params, lr=lr, **kw)


def _fused_adam_supported(params) -> bool:
    """`params`: tensors, or parameter groups (dicts with "params")."""
    from torch.distributed.tensor import DTensor  # noqa: PLC0415 (torch.distributed is missing from some torch builds)

    tensors = [p for item in params for p in (item["params"] if isinstance(item, dict) else [item])]
    return all(
        p.dtype.is_floating_point and p.device.type in ("cpu", "cuda") and not isinstance(p.data, DTensor)
        for p in tensors
    )


def _adamw8bit(params, lr, **kw):
    try:
        import bitsandbytes as bnb  # noqa: PLC0415 (may be missing: the except below handles it)
    except ImportError as exc:
        raise UserInputError(
            "train.optimizer 'adamw8bit' needs bitsandbytes: `pip install bitsandbytes` "
            f"(a CUDA machine is needed), or use optimizer: adamw ({exc})"
        ) from exc
    return bnb.optim.AdamW8bit(params, lr=lr, **kw)


def _prodigy(params, lr, **kw):
    try:
        from prodigyopt import Prodigy  # noqa: PLC0415 (may be missing: the except below handles it)
    except ImportError as exc:
        raise UserInputError(f"train.optimizer 'prodigy' needs prodigyopt: `pip install prodigyopt` ({exc})") from exc
    return Prodigy(params, lr=lr, **kw)


def _dadaptation(params, lr, **kw):
    try:
        from dadaptation import DAdaptAdam  # noqa: PLC0415 (may be missing: the except below handles it)
    except ImportError as exc:
        raise UserInputError(f"train.optimizer 'dadaptation' needs dadaptation: `pip install dadaptation` ({exc})") from exc
    return DAdaptAdam(params, lr=lr, **kw)


def _adafactor(params, lr, **kw):
    kw.setdefault("relative_step", False)
    kw.setdefault("scale_parameter", False)
    return Adafactor(params, lr=lr, **kw)


OPTIMIZERS: dict[str, Callable] = {
    "adamw": _adamw,
    "adamw8bit": _adamw8bit,
    "prodigy": _prodigy,
    "dadaptation": _dadaptation,
    "adafactor": _adafactor,
}


def build_optimizer(name: str, params, lr: float, optimizer_params: dict):
    try:
        factory = OPTIMIZERS[name]
    except KeyError as exc:
        raise UserInputError(f"train.optimizer '{name}' is not one of {', '.join(OPTIMIZERS)}") from exc
    try:
        return factory(params, lr, **optimizer_params)
    except TypeError as exc:
        raise UserInputError(f"train.optimizer_params {optimizer_params} do not fit optimizer '{name}': {exc}") from exc


def _lambda(name: str, total_steps: int, warmup: int, params: dict, base_lr: float = 1.0) -> Callable[[int], float]:
    """The factor on lr at each optimizer step (0-based): linear warm-up over `warmup` steps
    from lr/warmup to lr (every schedule, `constant` included), then the schedule over the
    remaining steps."""
    check_scheduler_params(name, params)

    def warm(step: int) -> float | None:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        return None

    decay_steps = max(1, total_steps - warmup)
    floor = min(1.0, float(params.get("eta_min", 0.0)) / base_lr) if base_lr > 0 else 0.0

    # `constant` ramps up too when lr_warmup_steps is set: that is what users of every
    # schedule expect from the key, and it was silently ignored before.
    def constant(step):
        return warm(step) or 1.0

    constant_with_warmup = constant

    def cosine(step):
        w = warm(step)
        if w is not None:
            return w
        progress = min(1.0, (step - warmup) / decay_steps)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def cosine_with_restarts(step):
        w = warm(step)
        if w is not None:
            return w
        cycles = max(1, int(params.get("num_cycles", 3)))
        progress = min(1.0, (step - warmup) / decay_steps)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * ((progress * cycles) % 1.0)))

    def linear(step):
        w = warm(step)
        if w is not None:
            return w
        end = float(params.get("end_factor", 0.0))
        progress = min(1.0, (step - warmup) / decay_steps)
        return 1.0 + (end - 1.0) * progress

    table = {
        "constant": constant,
        "constant_with_warmup": constant_with_warmup,
        "cosine": cosine,
        "cosine_with_restarts": cosine_with_restarts,
        "linear": linear,
    }
    if name not in table:
        raise UserInputError(f"train.lr_scheduler '{name}' is not one of {', '.join(table)}")
    return table[name]


def build_scheduler(name: str, optimizer, total_steps: int, warmup_steps: int, params: dict):
    """One schedule shape for every parameter group, each from its own starting rate (an
    eta_min floor is the same absolute rate for each)."""
    lambdas = [_lambda(name, total_steps, warmup_steps, params or {}, float(group["lr"]))
               for group in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas if len(lambdas) > 1 else lambdas[0])

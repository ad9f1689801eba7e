"""Optimizer and learning-rate schedule registries (`train.optimizer`, `train.lr_scheduler`)."""

from __future__ import annotations

import math
from typing import Callable

import torch

from toolkit.errors import UserInputError


def _adamw(params, lr, **kw):
    return torch.optim.AdamW(params, lr=lr, **kw)


def _adamw8bit(params, lr, **kw):
    try:
        import bitsandbytes as bnb
    except ImportError as exc:
        raise UserInputError(
            "train.optimizer 'adamw8bit' needs bitsandbytes: `pip install bitsandbytes` "
            f"(a CUDA machine is needed), or use optimizer: adamw ({exc})"
        ) from exc
    return bnb.optim.AdamW8bit(params, lr=lr, **kw)


def _prodigy(params, lr, **kw):
    try:
        from prodigyopt import Prodigy
    except ImportError as exc:
        raise UserInputError(f"train.optimizer 'prodigy' needs prodigyopt: `pip install prodigyopt` ({exc})") from exc
    return Prodigy(params, lr=lr, **kw)


def _dadaptation(params, lr, **kw):
    try:
        from dadaptation import DAdaptAdam
    except ImportError as exc:
        raise UserInputError(f"train.optimizer 'dadaptation' needs dadaptation: `pip install dadaptation` ({exc})") from exc
    return DAdaptAdam(params, lr=lr, **kw)


def _adafactor(params, lr, **kw):
    from transformers.optimization import Adafactor

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


def _lambda(name: str, total_steps: int, warmup: int, params: dict) -> Callable[[int], float]:
    def warm(step: int) -> float | None:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        return None

    decay_steps = max(1, total_steps - warmup)

    def constant(step):
        return 1.0

    def constant_with_warmup(step):
        return warm(step) or 1.0

    def cosine(step):
        w = warm(step)
        if w is not None:
            return w
        progress = min(1.0, (step - warmup) / decay_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    def cosine_with_restarts(step):
        w = warm(step)
        if w is not None:
            return w
        cycles = int(params.get("num_cycles", 3))
        progress = min(1.0, (step - warmup) / decay_steps)
        return 0.5 * (1.0 + math.cos(math.pi * ((progress * cycles) % 1.0)))

    def linear(step):
        w = warm(step)
        if w is not None:
            return w
        return max(0.0, 1.0 - (step - warmup) / decay_steps)

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
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _lambda(name, total_steps, warmup_steps, params or {}))

"""Timestep (sigma) samplers for flow-matching training, one per `train.timestep_type`.

Each sampler draws one sigma in (0, 1) per sample. Samplers with a resolution-dependent
shift take it from the token count of the modality they sample for, so audio (about 25
tokens a second) gets its own, lower-noise distribution than video (SOP change L and the
newest reference trainer). The shift follows the reference: mu is linear in the token
count, 0.95 at 1024 tokens and 2.05 at 4096, with the count capped at 4096.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

BASE_SEQ_LEN, MAX_SEQ_LEN = 1024, 4096
BASE_SHIFT, MAX_SHIFT = 0.95, 2.05
SIGMA_MIN, SIGMA_MAX = 1e-3, 1.0 - 1e-3


def shift_mu(token_count: int) -> float:
    """The reference trainer's log-shift for a sequence of `token_count` tokens."""
    tokens = min(int(token_count), MAX_SEQ_LEN)
    slope = (MAX_SHIFT - BASE_SHIFT) / (MAX_SEQ_LEN - BASE_SEQ_LEN)
    return BASE_SHIFT + slope * (tokens - BASE_SEQ_LEN)


def time_shift(mu: float, sigma: torch.Tensor) -> torch.Tensor:
    """Shift uniform-ish sigmas toward high noise by exp(mu) (the scheduler's exponential shift)."""
    return math.exp(mu) / (math.exp(mu) + (1.0 / sigma - 1.0))


def _bias(content_or_style: str) -> float:
    # content -> more high-noise samples (composition, identity); style -> more low-noise.
    return {"balanced": 0.0, "content": 0.5, "style": -0.5}[content_or_style]


def _uniform(batch: int, generator: torch.Generator | None, content_or_style: str) -> torch.Tensor:
    u = torch.rand(batch, generator=generator)
    if content_or_style == "content":
        u = 1.0 - (1.0 - u) ** 3
    elif content_or_style == "style":
        u = u**3
    return u


def sample_linear(batch, token_count, generator=None, content_or_style="balanced"):
    """Uniform sigma (no shift)."""
    return _uniform(batch, generator, content_or_style)


def sample_sigmoid(batch, token_count, generator=None, content_or_style="balanced"):
    """sigmoid(N(0, 1)): bell-shaped around 0.5, no shift."""
    z = torch.randn(batch, generator=generator) + _bias(content_or_style)
    return torch.sigmoid(z)


def sample_shift(batch, token_count, generator=None, content_or_style="balanced"):
    """Uniform sigma passed through the token-count shift."""
    return time_shift(shift_mu(token_count), _uniform(batch, generator, content_or_style).clamp(SIGMA_MIN, SIGMA_MAX))


def sample_logit_normal(batch, token_count, generator=None, content_or_style="balanced"):
    """The reference sampler: logit-normal with mean mu(token count), std 1, stretched so the
    0.5th..99.9th percentiles span (0, 1), with 10% uniform samples mixed in."""
    mu = shift_mu(token_count) + _bias(content_or_style)
    z = torch.randn(batch, generator=generator) + mu
    lo, hi = mu + 1.0 * -2.5758, mu + 1.0 * 3.0902  # normal quantiles at 0.5% and 99.9%
    stretched = (torch.sigmoid(z) - _sig(lo)) / (_sig(hi) - _sig(lo))
    uniform = torch.rand(batch, generator=generator)
    pick_uniform = torch.rand(batch, generator=generator) < 0.1
    return torch.where(pick_uniform, uniform, stretched)


def sample_weighted(batch, token_count, generator=None, content_or_style="balanced"):
    """Bell-shaped sampling around mid noise, shifted by the token count: the density that
    ai-toolkit's 'weighted' loss weighting approximates, applied as a sampling density."""
    z = torch.randn(batch, generator=generator) + _bias(content_or_style)
    return time_shift(shift_mu(token_count), torch.sigmoid(z).clamp(SIGMA_MIN, SIGMA_MAX))


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "linear": sample_linear,
    "sigmoid": sample_sigmoid,
    "shift": sample_shift,
    "logit_normal": sample_logit_normal,
    "weighted": sample_weighted,
}


def sample_sigmas(
    kind: str,
    batch: int,
    token_count: int,
    generator: torch.Generator | None = None,
    content_or_style: str = "balanced",
) -> torch.Tensor:
    """(batch,) sigmas in [SIGMA_MIN, SIGMA_MAX] for a modality with `token_count` tokens."""
    sigmas = SAMPLERS[kind](batch, token_count, generator=generator, content_or_style=content_or_style)
    return sigmas.clamp(SIGMA_MIN, SIGMA_MAX).float()

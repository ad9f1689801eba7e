"""Pure training math: flow-matching noising and targets, noise offset for 4D and 5D latents.

Shapes: image latents (B, C, H, W), video latents (B, C, F, H, W), packed tokens (B, S, C).
Sigmas are (B,) in [0, 1].
"""

from __future__ import annotations

import torch


def expand_sigma(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, ..., 1) broadcastable against `like`."""
    return sigma.reshape(sigma.shape[0], *([1] * (like.ndim - 1))).to(like.device, like.dtype)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Flow matching: x_t = (1 - sigma) * x0 + sigma * noise."""
    s = expand_sigma(sigma, x0)
    return (1.0 - s) * x0 + s * noise


def flow_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The velocity the model predicts: noise - x0."""
    return noise - x0


def apply_noise_offset(noise: torch.Tensor, offset: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add a per-sample, per-channel constant to the noise (SOP changes T/AA).

    Works for any latent with channels on dim 1: (B, C, H, W) images and (B, C, F, H, W) videos.
    """
    if offset <= 0:
        return noise
    if noise.ndim not in (4, 5):
        raise ValueError(f"noise offset needs (B, C, H, W) or (B, C, F, H, W) latents, got {tuple(noise.shape)}")
    shape = (noise.shape[0], noise.shape[1]) + (1,) * (noise.ndim - 2)
    return noise + offset * torch.randn(shape, generator=generator).to(noise.device, noise.dtype)


def apply_dynamic_noise_offset(noise: torch.Tensor, latents: torch.Tensor, offset: float) -> torch.Tensor:
    """Shift the noise's per-channel mean toward the latents' per-channel mean (SOP change AD).

    Teaches the model to move overall brightness/colour; works on 4D and 5D latents.
    """
    if offset <= 0:
        return noise
    if noise.ndim not in (4, 5):
        raise ValueError(f"dynamic noise offset needs 4D or 5D latents, got {tuple(noise.shape)}")
    dims = tuple(range(2, noise.ndim))
    channel_mean = latents.mean(dim=dims, keepdim=True)
    return noise + offset * channel_mean

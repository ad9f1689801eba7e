"""Attention kernels: LTX-2 attention runs through torch's scaled_dot_product_attention
(diffusers' native backend). On CUDA the flash and memory-efficient kernels are enabled
(SOP change Q) and the kernel torch picks for the model's shapes is logged once.

Nothing here patches torch functions: mask dtypes are made right where masks are created
(the adapter's connector and prompt masks), not intercepted at the kernel (root cause 17).
"""

from __future__ import annotations

import logging
import warnings

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

log = logging.getLogger(__name__)

_logged: set = set()


def _probe(backend, device, dtype, heads: int, head_dim: int, masked: bool) -> bool:
    """Does SDPA run with only `backend` allowed for these shapes?"""
    q = torch.zeros(1, heads, 16, head_dim, device=device, dtype=dtype)
    mask = torch.zeros(1, 1, 16, 16, device=device, dtype=dtype) if masked else None
    try:
        with warnings.catch_warnings(), sdpa_kernel([backend]):
            warnings.simplefilter("ignore")  # torch explains each kernel it cannot use
            torch.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=mask)
        return True
    except RuntimeError:
        return False


def sdpa_backend_name(device, dtype, heads: int, head_dim: int, masked: bool) -> str:
    """The first SDPA kernel (in torch's own preference order) that accepts these shapes."""
    order = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.MATH]
    for backend in order:
        if _probe(backend, device, dtype, heads, head_dim, masked):
            return backend.name.lower()
    return "none"


def configure_attention(device: torch.device, dtype: torch.dtype, heads: int, head_dim: int) -> str | None:
    """Enable flash + memory-efficient SDPA on CUDA and log the kernels once per setup.

    Returns the log line (None off CUDA: CPU SDPA has its own fused kernel and no switch)."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    torch.backends.cuda.enable_flash_sdp(True)
    torch.backends.cuda.enable_mem_efficient_sdp(True)
    key = (str(device), dtype, heads, head_dim)
    self_attn = sdpa_backend_name(device, dtype, heads, head_dim, masked=False)
    cross_attn = sdpa_backend_name(device, dtype, heads, head_dim, masked=True)
    line = (f"attention: SDPA on {torch.cuda.get_device_name(device)}, {dtype}, {heads} heads x {head_dim}: "
            f"self-attention kernel {self_attn}, masked cross-attention kernel {cross_attn}")
    if key not in _logged:
        _logged.add(key)
        log.info(line)
    return line

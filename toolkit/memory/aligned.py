"""Weights moved into 64-byte-aligned memory, for modules that compute on the CPU.

safetensors hands out tensors at whatever address their bytes landed (diffusers'
`from_pretrained` gives each tensor its own buffer, 16 bytes past a 64-byte boundary; a
single-file read gives views into one buffer at the file's offsets). PyTorch's allocator
aligns every block to 64 bytes, and the CPU kernels (oneDNN convolutions and matrix
products, ATen's vectorised loops) are written for that: on unaligned operands they take
slower paths that also sum in another order. bench/weight_alignment.py measures the cost;
docs/benchmarks.md has the figures. On a GPU the move to the device allocates new aligned
memory anyway, so only modules that compute on the CPU are re-allocated.

The copy is made one tensor at a time and replaces the original, which is then freed:
the resident memory afterwards is what it was (one tensor's worth more at the peak).
Quantized weights (quanto, torchao) are built by the quantizer in fresh allocations and are
left as they are.
"""

from __future__ import annotations

import torch

ALIGNMENT = 64  # bytes: c10's CPU allocator alignment, a cache line and an AVX-512 register


def _plain(tensor: torch.Tensor) -> bool:
    # wrapper subclasses (quantized weights) have no data pointer of their own to move
    return type(tensor) in (torch.Tensor, torch.nn.Parameter) and tensor.device.type == "cpu" and tensor.numel() > 0


def unaligned_tensors(module: torch.nn.Module) -> list[str]:
    """Names of the module's plain CPU parameters and buffers that start off a 64-byte boundary."""
    tensors = list(module.named_parameters(remove_duplicate=False)) + list(module.named_buffers(remove_duplicate=False))
    return [name for name, t in tensors if _plain(t) and t.data_ptr() % ALIGNMENT]


def align_module(module: torch.nn.Module) -> torch.nn.Module:
    """Re-allocate every unaligned plain CPU parameter and buffer of `module` in place (the
    Parameter objects stay, so optimizers and hooks that hold them are unaffected); returns it.
    Tensors that share memory keep sharing it (tied weights)."""
    copies: dict[tuple, torch.Tensor] = {}

    def aligned(tensor: torch.Tensor) -> torch.Tensor:
        key = (tensor.data_ptr(), tuple(tensor.shape), tensor.stride(), tensor.dtype)
        if key not in copies:
            copies[key] = tensor.detach().clone()
        return copies[key]

    for sub in module.modules():
        for param in sub._parameters.values():
            if param is not None and _plain(param) and param.data_ptr() % ALIGNMENT:
                param.data = aligned(param.data)
        for name, buffer in sub._buffers.items():
            if buffer is not None and _plain(buffer) and buffer.data_ptr() % ALIGNMENT:
                sub._buffers[name] = aligned(buffer)
    return module

"""The one place that decides whether a tensor is quantized, and dequantizes it.

Quantized tensors are recognised by their exact classes (optimum-quanto `QTensor` and its
subclasses such as `QBytesTensor`; torchao's `AffineQuantizedTensor`, `Int8Tensor`,
`Float8Tensor`, ...; torch's native quantized tensors through the `is_quantized` flag).
Never `hasattr(t, "dequantize")`: every torch tensor has that method since torch 2.9, and
calling it on a plain tensor inside the autograd graph records an op with no derivative
(SOP root cause #24).

Dequantization always happens under `torch.no_grad()` on frozen base weights, so nothing
non-differentiable is recorded: gradients flow through the adapters only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import is_traceable_wrapper_subclass

# torchao tensor classes holding quantized weights (not its optimizer-state tensors,
# which share the TorchAOBaseTensor base class and therefore rule that base class out).
_TORCHAO_WEIGHT_TYPES = ("Int8Tensor", "Float8Tensor", "Int4Tensor", "IntxUnpackedToInt8Tensor")

_cache: dict[tuple[bool, bool], tuple[type, ...]] = {}


def _quantized_types() -> tuple[type, ...]:
    """Quantized tensor classes of the quantization packages already imported.

    A package that was never imported cannot have produced a tensor, so this never imports
    optimum-quanto or torchao itself (both are slow to import)."""
    key = ("optimum.quanto" in sys.modules, "torchao" in sys.modules)
    if key not in _cache:
        types: list[type] = []
        if key[0]:
            from optimum.quanto import QTensor  # noqa: PLC0415 (heavy, loaded only when a quantization type needs it)

            types.append(QTensor)
        if key[1]:
            import torchao.quantization as ao_quant  # noqa: PLC0415 (heavy, loaded only when a quantization type needs it)
            from torchao.dtypes import AffineQuantizedTensor  # noqa: PLC0415 (heavy, loaded only when a quantization type needs it)

            types.append(AffineQuantizedTensor)  # also covers its float8 layouts
            types += [getattr(ao_quant, name) for name in _TORCHAO_WEIGHT_TYPES if hasattr(ao_quant, name)]
        _cache[key] = tuple(types)
    return _cache[key]


def is_quantized_tensor(t) -> bool:
    """True for optimum-quanto, torchao and torch-native quantized tensors, False otherwise
    (plain tensors, parameters, None)."""
    if not isinstance(t, torch.Tensor):
        return False
    if isinstance(t, _quantized_types()):
        return True
    return type(t) in (torch.Tensor, nn.Parameter) and bool(t.is_quantized)


def is_quantized_module(module: nn.Module) -> bool:
    return is_quantized_tensor(getattr(module, "weight", None))


def dequantize_tensor(t: torch.Tensor, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """A plain, detached tensor with the values `t` stands for, in `dtype` on `device`.

    Quantized tensors are dequantized (after moving, so the compact form travels); plain
    tensors are only detached and cast. Nothing is recorded in the autograd graph."""
    with torch.no_grad():
        if device is not None:
            t = t.to(device)
        if is_quantized_tensor(t):
            t = t.dequantize()
        t = t.detach()
        if type(t) is not torch.Tensor:  # nn.Parameter
            t = t.as_subclass(torch.Tensor)
        return t if dtype is None else t.to(dtype)


def dequantize_weight(module: nn.Module, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """The module's weight as a plain detached tensor (quantized or offloaded weights included).

    Modules that keep their weight elsewhere (layer offloading) provide `dense_weight`."""
    dense = getattr(module, "dense_weight", None)
    if callable(dense):
        return dense(dtype=dtype, device=device)
    return dequantize_tensor(module.weight, dtype=dtype, device=device)


def compute_dtype(module: nn.Module) -> torch.dtype | None:
    """The dtype a Linear-like module computes in: its weight's logical dtype (quanto and
    torchao report the dtype they were quantized from)."""
    weight = getattr(module, "weight", None)
    if isinstance(weight, torch.Tensor):
        return weight.dtype
    return None


def map_inner_tensors(t: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply `fn` to the plain tensors a quantized tensor is made of, and rebuild it.

    Used to move, pin and stream-record quantized weights in their compact form. Plain
    tensors get `fn` directly."""
    if not is_traceable_wrapper_subclass(t):
        return fn(t.detach().as_subclass(torch.Tensor) if isinstance(t, nn.Parameter) else t)
    names, ctx = t.__tensor_flatten__()
    inner = {name: map_inner_tensors(getattr(t, name), fn) for name in names}
    return type(t).__tensor_unflatten__(inner, ctx, t.size(), t.stride())


def inner_tensors(t: torch.Tensor) -> list[torch.Tensor]:
    """The plain tensors holding `t`'s data (itself when it is plain)."""
    found: list[torch.Tensor] = []
    map_inner_tensors(t, lambda x: found.append(x) or x)
    return found


def tensor_nbytes(t: torch.Tensor) -> int:
    return sum(x.numel() * x.element_size() for x in inner_tensors(t))

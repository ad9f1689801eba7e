"""Levers (a) and (f): where the LoRA math happens and in which order its output is added.

peft keeps the adapter weights in float32 (toolkit/lora/network.py makes them so: weights,
gradients and optimizer state stay float32) and, before each adapter, casts the layer's input
to the adapter weight's dtype (`LoraLayer._cast_input_dtype`). In a bf16 model that makes a
float32 copy of the input of every adapted Linear, and autograd keeps each copy for lora_A's
weight gradient: a float32 copy per layer of tensors that already exist in bf16 (to_q, to_k
and to_v each make their own). It then adds the float32 adapter output to the bf16 frozen
output in float32 and casts the sum back, so the backward pass also carries a separate copy
of the output gradient.

(a) `lora_precision: compute`: every adapter factor (lora_A, lora_B) becomes a
`ComputeDtypeLinear`, which multiplies in the input's dtype through `_CastWeightLinear`: the
float32 weight is cast for the product only (a temporary the size of the factor), autograd
keeps the bf16 input it was given (the same storage the other consumers keep) and nothing
else, and the weight gradient is returned in float32. peft's own switch
(`cast_input_dtype_enabled = False`) stops the float32 input copy, so the input reaches the
factors in bf16 and the sum is in bf16. DoRA's extra terms follow the input dtype too
(toolkit/lora/peft_patches.QuantSafeDora). The parameters keep their names: files, resume and the
optimizer see no difference.

(f) `lora_cast_before_add` with float32 math: a forward hook on lora_B casts the adapter
output to the frozen layer's compute dtype before peft adds it (ai-toolkit's order).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from peft.tuners.lora import LoraLayer
from torch import nn

from toolkit.memory.host_device import cpu_arithmetic
from toolkit.memory.qtensor import compute_dtype


# CPUs without bf16 matrix instructions (AVX2 only) multiply bf16 matrices whose inner
# dimension is a LoRA rank at about 1 GFLOP/s against 38 in float32 (measured on the dev
# machine): a rank-32 adapter's products then cost more than the frozen layer's. There the
# rank-sized operand is taken to float32 and the product cast back: the same result within
# rounding, and what autograd keeps is unchanged. GPUs multiply in the compute dtype.
def _rank_inner(a: torch.Tensor, weight: torch.Tensor) -> bool:
    """True on a CPU when `a`'s last dimension (the product's inner one) is the factor's rank."""
    return cpu_arithmetic(a.device) and a.shape[-1] == min(weight.shape) < max(weight.shape)


class _CastWeightLinear(torch.autograd.Function):
    """y = x W^T with W (float32) used in x's dtype; saves x and W, returns W's gradient in W's dtype."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        if _rank_inner(x, weight):
            return F.linear(x.float(), weight).to(x.dtype)
        return F.linear(x, weight.to(x.dtype))

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            if _rank_inner(grad_out, weight):
                grad_x = grad_out.float().matmul(weight).to(grad_out.dtype)
            else:
                grad_x = grad_out.matmul(weight.to(grad_out.dtype))
        if ctx.needs_input_grad[1]:
            # the sum over tokens runs in the compute dtype's matmul (float32 accumulation on GPUs)
            grad_weight = grad_out.reshape(-1, grad_out.shape[-1]).t().matmul(x.reshape(-1, x.shape[-1]))
            grad_weight = grad_weight.to(weight.dtype)
        return grad_x, grad_weight


class ComputeDtypeLinear(nn.Linear):
    """An adapter factor (bias-free Linear) whose float32 weight multiplies in the input's dtype."""

    @classmethod
    def replacing(cls, old: nn.Linear) -> ComputeDtypeLinear:
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.in_features, new.out_features = old.in_features, old.out_features
        new.weight = old.weight  # the same Parameter: names, optimizer and files unchanged
        new.register_parameter("bias", None)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == self.weight.dtype:
            return F.linear(x, self.weight)
        return _CastWeightLinear.apply(x, self.weight)


def _lora_layers(model: nn.Module):
    return [m for m in model.modules() if isinstance(m, LoraLayer) and hasattr(m, "lora_A")]


def use_compute_dtype(model: nn.Module) -> int:
    """Lever (a) on every peft LoRA/DoRA layer of `model`; returns how many layers. Runs
    before any hook is put on the factors (the factor modules are replaced)."""
    layers = _lora_layers(model)
    for layer in layers:
        layer.cast_input_dtype_enabled = False  # peft's switch: no float32 copy of the input
        for factors in (layer.lora_A, layer.lora_B):
            for name, factor in list(factors.items()):
                if type(factor) is nn.Linear and factor.bias is None:
                    if factor._forward_hooks or factor._forward_pre_hooks:
                        raise RuntimeError(f"lora_precision: compute must be set up before hooks on {name}")
                    factors[name] = ComputeDtypeLinear.replacing(factor)
    return len(layers)


def _cast_output_hook(dtype: torch.dtype):
    def hook(module, args, output):
        return output.to(dtype) if output.dtype != dtype else None

    return hook


def cast_before_add(model: nn.Module) -> list:
    """Lever (f) on every peft LoRA layer of `model` whose frozen layer computes in a lower
    dtype than its adapter; returns the hook handles."""
    handles = []
    for layer in _lora_layers(model):
        dtype = compute_dtype(layer.get_base_layer())
        if dtype is None or dtype == torch.float32:
            continue
        for factor in layer.lora_B.values():
            handles.append(factor.register_forward_hook(_cast_output_hook(dtype)))
    return handles

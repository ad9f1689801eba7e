"""What the trainer adds to peft's adapter layers so they work on every base weight.

- `QuantSafeDora`: peft's DoRA layer reads the base weight with `weight.to(x.dtype)`, which
  optimum-quanto refuses for weights quantized from bf16 ("The dtype of a weights Tensor
  cannot be changed"), and its torchao path calls `.dequantize()` on whatever it finds. Ours
  takes the base weight through `toolkit.memory.qtensor.dequantize_weight` (exact type
  checks, no graph recorded: the base is frozen) and computes the weight norm from the
  adapter's parameters directly, so no lora_A forward hook (rank dropout) runs inside it.
- `install_dtype_guards`: every wrapped forward returns its input's dtype, and the frozen
  base layer receives its own compute dtype (a bf16 or float8 base given float32
  activations would fail in F.linear). Per-module hooks; no global patching.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from peft.tuners.lora.dora import DoraLinearLayer
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from toolkit.memory.qtensor import compute_dtype, dequantize_weight


class QuantSafeDora(DoraLinearLayer):
    """DoRA for Linear layers whose base weight may be quantized or offloaded.

    output delta = (m / ||W + s·BA|| - 1) · (W x) + (m / ||W + s·BA||) · s·B A x, with the
    norm per output row, detached as in the DoRA paper (section 4.3) and in peft.
    """

    @classmethod
    def replace(cls, layer: nn.Module, adapter_name: str) -> QuantSafeDora:
        """Swap peft's DoRA module of `layer` for ours, re-deriving the magnitude from the
        dequantized base weight (peft's own init may have seen the quantized form)."""
        old = layer.lora_magnitude_vector[adapter_name]
        new = cls(fan_in_fan_out=old.fan_in_fan_out)
        lora_a = layer.lora_A[adapter_name].weight
        lora_b = layer.lora_B[adapter_name].weight
        with torch.no_grad():
            norm = new.weight_norm(layer.get_base_layer(), lora_a, lora_b, layer.scaling[adapter_name])
        new.weight = nn.Parameter(norm.to(old.weight.device, old.weight.dtype), requires_grad=old.weight.requires_grad)
        layer.lora_magnitude_vector[adapter_name] = new
        return new

    @staticmethod
    def weight_norm(base_layer: nn.Module, lora_a: torch.Tensor, lora_b: torch.Tensor, scaling: float) -> torch.Tensor:
        """||W + s·B A|| per output row in float32, with no gradient."""
        with torch.no_grad():
            weight = dequantize_weight(base_layer, dtype=torch.float32, device=lora_a.device)
            delta = lora_b.detach().float() @ lora_a.detach().float()
            return torch.linalg.norm(weight + scaling * delta, dim=1)

    # peft calls this with these keyword names
    def forward(self, x, *, lora_A, lora_B, scaling, base_layer, base_result=None, adapter_name="default"):  # noqa: N803
        weight_norm = self.weight_norm(base_layer, lora_A.weight, lora_B.weight, scaling)
        mag_norm_scale = (self.weight / weight_norm.to(self.weight.dtype)).view(1, -1)
        lora_result = lora_B(lora_A(x))
        if base_result is None:  # input dropout is on: the base output of the dropped-out input
            weight = dequantize_weight(base_layer, dtype=x.dtype, device=x.device)
            base_result = F.linear(x, weight)
        else:
            bias = getattr(base_layer, "bias", None)
            if bias is not None:
                base_result = base_result - bias.to(base_result.dtype)
        # In x's dtype: float32 under peft's default casting, the compute dtype with
        # lora_precision: compute (toolkit/memory/lora_precision.py). m/||W + sBA|| - 1 is small,
        # so it is taken in float32 before any cast (1 + 1e-3 would round to 1 in bf16).
        delta = (mag_norm_scale - 1).to(x.dtype)
        out = delta * base_result.to(x.dtype) + mag_norm_scale.to(x.dtype) * lora_result * scaling
        return out

    def __repr__(self) -> str:
        return "QuantSafeDora(" + super().__repr__() + ")"


def install_quant_safe_dora(model: nn.Module, adapter_name: str) -> int:
    """Replace every DoRA module of `model`'s adapter `adapter_name`; returns how many."""
    count = 0
    for module in model.modules():
        vectors = getattr(module, "lora_magnitude_vector", None)
        if isinstance(module, BaseTunerLayer) and vectors is not None and adapter_name in vectors:
            QuantSafeDora.replace(module, adapter_name)
            count += 1
    return count


def _cast_base_input(module, args, kwargs):
    dtype = compute_dtype(module)
    if dtype is None or not args or not isinstance(args[0], torch.Tensor) or args[0].dtype == dtype:
        return None
    if not args[0].is_floating_point():
        return None
    return (args[0].to(dtype), *args[1:]), kwargs


def _restore_output_dtype(module, args, output):
    if not args or not isinstance(args[0], torch.Tensor) or not isinstance(output, torch.Tensor):
        return None
    if output.dtype == args[0].dtype or not args[0].is_floating_point():
        return None
    return output.to(args[0].dtype)


def install_dtype_guards(model: nn.Module) -> list:
    """Make every adapter-wrapped layer of `model` dtype-transparent; returns the hook handles."""
    handles = []
    for module in model.modules():
        if not isinstance(module, BaseTunerLayer):
            continue
        base = module.get_base_layer()
        handles.append(base.register_forward_pre_hook(_cast_base_input, with_kwargs=True))
        handles.append(module.register_forward_hook(_restore_output_dtype))
    return handles

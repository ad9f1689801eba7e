"""fp8 weights (the `-fp8` LTX-2 files): upcast on load.

Choice: fp8 tensors are upcast to the load dtype (bf16 by default) as they are read. The
trainer's own quantization (`model.quantize`, quanto/torchao) then re-quantizes the frozen
transformer if asked, so fp8 files need no second code path and a LoRA trained on them is
a plain LoRA. A per-tensor or per-output-channel scale stored next to a weight
(`<name>.weight_scale` or the older `<name>.scale_weight`) is applied while upcasting.
ComfyUI's int8 "convrot" files cannot be dequantized here: they are refused with a message.
"""

from __future__ import annotations

import json

import torch

FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)
# side tensors that travel with quantized weights: scales, input scales, per-layer format notes
SIDE_SUFFIXES = (".weight_scale", ".weight_scale_2", ".scale_weight", ".input_scale", ".scale_input",
                 ".pre_quant_scale", ".comfy_quant")


def is_side_key(key: str) -> bool:
    return key.endswith(SIDE_SUFFIXES) or key.endswith("scaled_fp8")


def scale_key_for(key: str, keys) -> str | None:
    """The scale tensor stored for weight `key`, if any."""
    if not key.endswith(".weight"):
        return None
    stem = key[: -len(".weight")]
    for suffix in (".weight_scale", ".scale_weight"):
        if stem + suffix in keys:
            return stem + suffix
    return None


def refuse_unsupported(key: str, note: torch.Tensor | None) -> str | None:
    """A reason why this quantized layer cannot be read, or None when it can."""
    if note is None:
        return None
    conf = json.loads(bytes(note.to(torch.uint8).numpy().tobytes()).decode())
    params = conf.get("params") if isinstance(conf.get("params"), dict) else {}
    convrot = bool(conf.get("convrot") or params.get("convrot"))
    if convrot or conf.get("format") not in ("float8_e4m3fn", "float8_e5m2"):
        return f"layer {key} is stored as {conf.get('format')}{' convrot' if convrot else ''}"
    return None


def scale_problem(weight_shape: tuple[int, ...], scale_shape: tuple[int, ...]) -> str | None:
    """Why a scale of this shape cannot scale the weight, or None when it can: one value for the
    whole tensor, or one per output channel (the first dimension). Block-wise or per-input scales
    (other fp8 recipes) would need their own dequantization, not a broadcast that happens to fit."""
    count = 1
    for n in scale_shape:
        count *= n
    if count == 1 or (weight_shape and count == weight_shape[0]
                      and sum(1 for n in scale_shape if n != 1) <= 1):
        return None
    return (f"its shape {list(scale_shape)} is neither one value nor one per output channel of the "
            f"weight {list(weight_shape)}")


def upcast(tensor: torch.Tensor, scale: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """An fp8 tensor (times its scale, checked by scale_problem first) in `dtype`; other tensors
    are returned unchanged."""
    if tensor.dtype not in FP8_DTYPES:
        return tensor
    out = tensor.to(torch.float32)
    if scale is not None:
        scale = scale.to(torch.float32)
        out = out * (scale if scale.numel() == 1 else scale.reshape(-1, *([1] * (out.ndim - 1))))
    return out.to(dtype)

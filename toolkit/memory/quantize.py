"""Weight-only quantization of a module's Linear layers behind one small interface.

    quantize_model(transformer, "qfloat8", include=("transformer_blocks.",))

qtypes (``toolkit.memory.qtypes``): every optimum-quanto weight type (`qint2` … `qfloat8_e5m2`),
torchao's weight-only int8/float8 (`int8`/`float8`, also spelled `torchao_int8`/`torchao_float8`)
and ai-toolkit's `uint2` … `uint8` (torchao's asymmetric N-bit weight-only config). Only `nn.Linear` layers are quantized; the model's
entry and exit projections, norms and embeddings stay in full precision (`DEFAULT_EXCLUDE`).
Quantized weights never require gradients (quanto's `freeze()` turns `requires_grad` back
on; it is turned off again here).
"""

from __future__ import annotations

import logging
from fnmatch import fnmatch

import torch
from torch import nn

from toolkit.memory.qtensor import is_quantized_module
from toolkit.memory.qtypes import QTYPE_NAMES as QTYPES  # noqa: F401 - re-exported
from toolkit.memory.qtypes import resolve_qtype
from toolkit.memory.quanto_build import check_build_locks, use_torch_unpack_on_cpu

log = logging.getLogger(__name__)

# fnmatch patterns on the qualified module name, matched on the name and on its last segment.
DEFAULT_EXCLUDE = ("*proj_in", "*proj_out", "*norm*", "*embed*", "lm_head")


def _matches(name: str, patterns) -> bool:
    last = name.rsplit(".", 1)[-1]
    return any(fnmatch(name, p) or fnmatch(last, p) for p in patterns)


def select_linears(module: nn.Module, include=None, exclude=DEFAULT_EXCLUDE) -> list[str]:
    """Qualified names of the plain Linear layers that `quantize_model` would quantize."""
    names = []
    for name, sub in module.named_modules():
        if not isinstance(sub, nn.Linear) or is_quantized_module(sub):
            continue
        if include is not None and not any(name.startswith(prefix) for prefix in include):
            continue
        if _matches(name, exclude):
            continue
        names.append(name)
    return names


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def _quanto(module: nn.Module, names: list[str], qtype: str) -> None:
    import optimum.quanto  # noqa: PLC0415 (heavy, loaded only when a quantization type needs it)
    from optimum.quanto.nn import quantize_module  # noqa: PLC0415 (heavy, loaded only when a quantization type needs it)

    use_torch_unpack_on_cpu()  # no C++ build on the CPU (quanto_build.py)
    check_build_locks()  # before the first unpack, which would wait on an interrupted build forever
    weights = getattr(optimum.quanto, qtype)
    for name in names:
        linear = module.get_submodule(name)
        qlinear = quantize_module(linear, weights=weights)
        qlinear.freeze()
        qlinear.requires_grad_(False)  # freeze() re-enables it on the quantized weight
        _set_submodule(module, name, qlinear)


# ai-toolkit's uintN quantizes in groups of 64 input features; layers narrower than a group
# multiple get one scale per output row instead.
UINT_GROUP_SIZE = 64


def _torchao_configs(module: nn.Module, names: list[str], qtype: str) -> list[tuple[object, set]]:
    """(torchao config, layer names) pairs: one for int8/float8, one per granularity for uintN."""
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig, IntxWeightOnlyConfig  # noqa: PLC0415 (heavy, loaded only when a quantization type needs it)
    from torchao.quantization.granularity import PerAxis, PerGroup  # noqa: PLC0415 (heavy, loaded only when a quantization type needs it)
    from torchao.quantization.quant_primitives import MappingType  # noqa: PLC0415 (heavy, loaded only when a quantization type needs it)

    if qtype == "int8":
        return [(Int8WeightOnlyConfig(), set(names))]
    if qtype == "float8":
        return [(Float8WeightOnlyConfig(), set(names))]
    bits = getattr(torch, f"int{int(qtype.removeprefix('uint'))}")
    grouped = {n for n in names if module.get_submodule(n).in_features % UINT_GROUP_SIZE == 0}
    pairs = []
    for granularity, members in ((PerGroup(UINT_GROUP_SIZE), grouped), (PerAxis(0), set(names) - grouped)):
        if members:  # asymmetric: 2^N levels with a zero point, the uintN grid
            pairs.append((IntxWeightOnlyConfig(weight_dtype=bits, granularity=granularity,
                                               mapping_type=MappingType.ASYMMETRIC), members))
    return pairs


def _torchao(module: nn.Module, names: list[str], qtype: str) -> None:
    from torchao.quantization import quantize_  # noqa: PLC0415 (heavy, loaded only when a quantization type needs it)

    for config, wanted in _torchao_configs(module, names, qtype):
        quantize_(module, config, filter_fn=lambda sub, fqn, wanted=wanted: fqn in wanted)
    for name in names:
        module.get_submodule(name).requires_grad_(False)


def quantize_model(module: nn.Module, qtype: str, *, include=None, exclude=DEFAULT_EXCLUDE) -> list[str]:
    """Quantize (weight-only, in place) the Linear layers of `module` whose qualified name
    starts with one of `include` (all when None) and matches none of `exclude`.

    Returns the quantized layers' names."""
    try:
        resolved = resolve_qtype(qtype)
    except ValueError as exc:
        raise ValueError(f"unknown qtype {exc}") from exc
    names = select_linears(module, include, exclude)
    if not names:
        return names
    with torch.no_grad():
        if resolved.backend == "quanto":
            _quanto(module, names, resolved.weights)
        else:
            _torchao(module, names, resolved.weights)
    log.debug("quantized %d Linear layers to %s", len(names), qtype)
    return names

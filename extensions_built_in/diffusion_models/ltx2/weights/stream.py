"""Streaming one component's weights into its module, one unit (a block, a layer) at a time.

    weights = open_component(...)                 # load.py / folder.py: every tensor located, checked
    module = stream_into(weights, units=["transformer_blocks.0", ...], finish=place)

The module is built empty (parameters on the meta device). Each unit's tensors are read from
the memory-mapped files in their final dtype, assigned, and handed to `finish(unit, submodule)`,
which the caller uses to put the unit where it rests: quantize it, move it to the GPU, leave it
on the CPU for layer offloading. Then the pages of every tensor that was copied elsewhere are
given back (mapped.py), so the host never holds more than one unit's weights in a form they
will not keep: no full bf16 copy of a transformer exists before it is quantized, and a model
loaded to the GPU leaves no file pages behind. What is not inside a unit (embeddings, norms,
the small components whole) is streamed last, as the unit "" (the module itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from toolkit.memory.qtensor import inner_tensors


@dataclass
class ComponentWeights:
    """Where each tensor of one component's module lies, checked before any tensor is read.

    `places`: state-dict key -> (WeightFile, key in that file); `read(file, key, floating)`
    returns the tensor in its final dtype (a view on the file when nothing changes)."""

    what: str
    module: nn.Module
    places: dict[str, tuple[Any, str]]
    read: Callable[[Any, str, bool], torch.Tensor]
    floating: dict[str, bool] = field(default_factory=dict)  # key -> the module expects a float


Finish = Callable[[str, nn.Module], None]


def stream_into(weights: ComponentWeights, units: Iterable[str] = (), finish: Finish | None = None) -> nn.Module:
    """Fill `weights.module` unit by unit (see the module doc); returns the module in eval mode."""
    module = weights.module
    keys = list(weights.places)
    units = [u for u in units if u]
    claimed: set[str] = set()
    groups = []
    for unit in units:
        mine = [k for k in keys if k.startswith(unit + ".") and k not in claimed]
        claimed.update(mine)
        groups.append((unit, mine))
    groups.append(("", [k for k in keys if k not in claimed]))
    for unit, unit_keys in groups:
        target = module.get_submodule(unit) if unit else module
        state = {}
        for key in unit_keys:
            file, file_key = weights.places[key]
            state[key[len(unit) + 1:] if unit else key] = weights.read(file, file_key, weights.floating.get(key, True))
        views = {key: state[key[len(unit) + 1:] if unit else key] for key in unit_keys}
        target.load_state_dict(state, strict=False, assign=True)
        del state
        if finish is not None:
            finish(unit, target)
        _give_back(weights, unit_keys, views, target)
    return module.eval()


def _give_back(weights: ComponentWeights, keys: list[str], views: dict[str, torch.Tensor], target: nn.Module) -> None:
    """Release the file pages of every tensor the unit no longer holds as a view on the file."""
    held = {t.untyped_storage().data_ptr() for t in _plain_tensors(target) if t.device.type == "cpu"}
    for key in keys:
        view = views[key]
        if view.device.type == "cpu" and view.numel() and view.untyped_storage().data_ptr() in held:
            continue  # rests on the CPU as a view on the file: no copy exists, nothing to give back
        file, file_key = weights.places[key]
        file.release(file_key)


def _plain_tensors(module: nn.Module):
    """Every plain tensor a module holds: parameters and buffers, the inner tensors of quantized
    ones, and weights kept outside the registry (offloaded layers' resting copies)."""
    for sub in module.modules():
        tensors = list(sub._parameters.values()) + list(sub._buffers.values())
        rest = getattr(sub, "_rest", None)
        if isinstance(rest, torch.Tensor):
            tensors.append(rest)
        for tensor in tensors:
            if tensor is None:
                continue
            yield from inner_tensors(tensor)


@contextmanager
def default_dtype(dtype: torch.dtype | None):
    """Build a module with `dtype` as torch's default, as diffusers' and transformers' own
    loading do (their classes make some buffers in the default dtype, others in float32 on
    purpose). float8 and None (keep the file's dtype) build in float32."""
    if dtype is None or not dtype.is_floating_point or dtype.itemsize < 2:
        yield
        return
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)

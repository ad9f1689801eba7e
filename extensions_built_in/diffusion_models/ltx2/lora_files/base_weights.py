"""The base model's weight of one layer, read from the model's files without building the model.

Only DoRA needs it: ComfyUI's `dora_scale` is DoRA's magnitude measured against the base
weight's row norms (m * ||W|| / ||W + ΔW||, docs/networks.md), so turning one form into the other
reads W. `--base` takes a diffusers-format model folder (`transformer/` and `connectors/`, one
file or sharded, or the `transformer/` folder alone) or an original single .safetensors file (`model.diffusion_model.*`,
`text_embedding_projection.*`); one tensor is read per layer.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from extensions_built_in.diffusion_models.ltx2.lora_files.adapter import DORA, ModuleAdapter
from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import (
    DIT_PREFIX,
    DORA_SCALE,
    MAGNITUDE,
    split_module,
)
from extensions_built_in.diffusion_models.ltx2.lora_files.loaders import checkpoint_key
from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import needs_base
from toolkit.errors import UserInputError


class BaseWeights:
    """Weights by layer name ("transformer.<path>"), from a model folder or a single file."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self._where: dict[str, tuple[Path, str]] = {}  # layer -> (file, key)
        if self.path.is_dir():
            # a model folder (transformer/, connectors/), or its transformer/ folder itself
            folders = {root: self.path / root for root in ("transformer", "connectors") if (self.path / root).is_dir()}
            for root, folder in (folders or {"transformer": self.path}).items():
                for file in sorted(folder.glob("*.safetensors")):
                    for key in _keys(file):
                        if key.endswith(".weight"):
                            self._where[f"{root}.{key.removesuffix('.weight')}"] = (file, key)
            self._single = None
        elif self.path.is_file():
            self._single = set(_keys(self.path))
        else:
            raise UserInputError(f"--base {self.path}: no such model folder or file")
        if self._single is None and not self._where:
            raise UserInputError(f"--base {self.path}: no transformer/ or connectors/ weights in this folder "
                                 "(give a diffusers-format LTX-2 folder or the original .safetensors file)")

    def weight(self, module: str) -> torch.Tensor:
        if self._single is not None:
            key = checkpoint_key(module)
            for candidate in (key, key.removeprefix("model."), key.removeprefix(DIT_PREFIX)):
                if candidate in self._single:
                    return _read(self.path, candidate)
            raise UserInputError(f"--base {self.path}: it has no weight for layer {module} ({key})")
        if module not in self._where:
            root, _ = split_module(module)
            raise UserInputError(f"--base {self.path}: {root}/ has no weight for layer {module}")
        return _read(*self._where[module])


def _keys(file: Path) -> list[str]:
    try:
        with safe_open(str(file), framework="pt") as handle:
            return list(handle.keys())
    except (OSError, SafetensorError) as exc:
        raise UserInputError(f"--base: {file} is not a readable .safetensors file ({exc})") from exc


def _read(file: Path, key: str) -> torch.Tensor:
    with safe_open(str(file), framework="pt") as handle:
        return handle.get_tensor(key)


def complete_dora(modules: dict[str, ModuleAdapter], base: BaseWeights | None, want_scale: bool) -> None:
    """Give every DoRA layer both forms of its magnitude that the target needs: the magnitude
    (peft's, for diffusers and musubi-tuner) and, with `want_scale`, ComfyUI's dora_scale; each
    missing one is computed from the other with the base weight (NeedsBase without one)."""
    for module, adapter in modules.items():
        if adapter.kind != DORA:
            continue
        has_magnitude, has_scale = MAGNITUDE in adapter.tensors, DORA_SCALE in adapter.tensors
        if has_magnitude and (has_scale or not want_scale):
            continue
        if base is None:
            raise needs_base(module, "ComfyUI's dora_scale" if has_magnitude else "DoRA's magnitude (lora_magnitude_vector)")
        weight = base.weight(module).float()
        base_norm = weight.norm(dim=1)
        adapted_norm = (weight + adapter.delta()).norm(dim=1)
        dtype = adapter.dtype
        if has_magnitude:
            magnitude = adapter.tensors[MAGNITUDE].float().reshape(-1)
            adapter.tensors[DORA_SCALE] = (magnitude * base_norm / adapted_norm).reshape(-1, 1).to(dtype)
        else:
            scale = adapter.tensors[DORA_SCALE].float().reshape(-1)
            adapter.tensors[MAGNITUDE] = (scale * adapted_norm / base_norm).to(dtype)

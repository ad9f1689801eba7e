"""The model families, found the way ai-toolkit finds its extensions: every folder of
extensions_built_in/diffusion_models/ with a `family.py` is one, imported by its computed module
name. Only that light module is imported (no torch); toolkit/ never imports a family otherwise.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from types import ModuleType

from toolkit.family.interface import ModelFamily

FAMILIES_DIR = Path(__file__).resolve().parents[2] / "extensions_built_in" / "diffusion_models"
PACKAGE = "extensions_built_in.diffusion_models"
# The family a config trains when it names no arch, and whose LoRA files the LoRA tools read.
DEFAULT_FAMILY = "ltx2"


@functools.cache
def families() -> dict[str, ModelFamily]:
    """name -> the family's light half, for every family folder."""
    found = {}
    for folder in sorted(p.parent for p in FAMILIES_DIR.glob("*/family.py")):
        module = importlib.import_module(f"{PACKAGE}.{folder.name}.family")
        family = getattr(module, "FAMILY", None)
        if not isinstance(family, ModelFamily):
            raise TypeError(f"{folder / 'family.py'} defines no FAMILY (a toolkit.family.interface.ModelFamily)")
        found[family.name] = family
    return found


def default_family() -> ModelFamily:
    return families()[DEFAULT_FAMILY]


def heavy_half(family: ModelFamily) -> ModuleType:
    """The family's heavy module (`family.heavy`: torch, diffusers; its adapter and `KEY_NAMER`),
    imported now: for the run and a network built without a model, never the checks."""
    return importlib.import_module(family.heavy)


def lora_file_tools(family: ModelFamily) -> ModuleType:
    """The family's LoRA file tools (`family.lora_file_tools`: torch, safetensors), imported now:
    for `python -m toolkit.lora_tools`, never the checks or the run."""
    return importlib.import_module(family.lora_file_tools)


def family_for_arch(arch: str) -> ModelFamily:
    """The family that trains `arch` (aliases allowed); the default family for an unknown arch,
    whose own checks then name the arch as unknown."""
    for family in families().values():
        if family.normalise_arch(arch) in family.versions:
            return family
    return default_family()


def all_arch_defaults() -> dict[str, dict]:
    """arch -> {dotted config key: default} of every family's versions."""
    return {arch: dict(version.config_defaults) for family in families().values()
            for arch, version in family.versions.items()}

"""resize: every layer's update cut to rank R by SVD (the best rank-R approximation), with the
retained energy (the share of ||ΔW||² kept) reported per module family.

A LoRA layer of rank <= R is kept as it is. A LoKr layer becomes a LoRA of rank R (a
Kronecker product has no rank to cut; its SVD comes from its factors'). A DoRA keeps its
magnitude and gets the cut direction update; its ComfyUI dora_scale depends on that update,
so a ComfyUI-named DoRA is resized only with the base model (`--base`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from extensions_built_in.diffusion_models.ltx2.lora_files.adapter import DORA, LOKR, ModuleAdapter
from extensions_built_in.diffusion_models.ltx2.lora_files.base_weights import BaseWeights, complete_dora
from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import COMFYUI, MAGNITUDE, WRITABLE, family_of
from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import (
    LoraFile,
    check_output,
    output_metadata,
    write_lora,
)
from extensions_built_in.diffusion_models.ltx2.lora_files.lowrank import spectrum
from toolkit.errors import UserInputError


@dataclass
class FamilyEnergy:
    layers: int = 0
    cut: int = 0
    energy: float = 0.0
    kept: float = 0.0
    lowest: float = 1.0  # the least any one layer kept

    @property
    def retained(self) -> float:
        return self.kept / self.energy if self.energy > 0 else 1.0


def resize(lora: LoraFile, rank: int, out: Path, base: BaseWeights | None = None, overwrite: bool = False) -> dict:
    if rank < 1:
        raise UserInputError(f"--rank {rank}: the rank must be at least 1")
    lora.require_understood("resize")
    out = check_output(out, [lora.path], overwrite)
    naming = lora.naming if lora.naming in WRITABLE else COMFYUI
    modules: dict[str, ModuleAdapter] = {}
    families: dict[str, FamilyEnergy] = {}
    for module, adapter in tqdm(sorted(lora.modules.items()), desc="resize", unit="layer", leave=False):
        family = families.setdefault(family_of(module).name, FamilyEnergy())
        family.layers += 1
        spec = spectrum([(adapter, 1.0)], limit=rank)
        kept = spec.retained(rank)
        family.energy += spec.energy
        family.kept += spec.energy * kept
        family.lowest = min(family.lowest, kept)
        if adapter.kind != LOKR and (adapter.rank or 0) <= rank:
            modules[module] = adapter
            continue
        family.cut += 1
        cut = spec.truncated(rank, adapter.dtype)
        if adapter.kind == DORA:
            cut = ModuleAdapter(DORA, {**cut.tensors, MAGNITUDE: adapter.tensors[MAGNITUDE]}) if MAGNITUDE in \
                adapter.tensors else _dora_from_scale(module, adapter, cut, base)
        modules[module] = cut
    complete_dora({m: a for m, a in modules.items() if a.kind == DORA and lora.modules[m] is not a}, base,
                  want_scale=naming == COMFYUI)
    note = f"resize of {lora.path.name} to rank {rank}"
    write_lora(out, naming, modules, lora.version, output_metadata([lora], naming, modules, lora.version, note))
    total = sum(f.energy for f in families.values())
    return {"output": str(out), "rank": rank, "naming": naming, "layers": len(modules),
            "cut_layers": sum(f.cut for f in families.values()),
            "families": {name: {"layers": f.layers, "cut": f.cut, "retained": f.retained, "lowest": f.lowest}
                         for name, f in families.items()},
            "retained": sum(f.kept for f in families.values()) / total if total > 0 else 1.0,
            "kinds": sorted({a.kind for a in modules.values()}), "source_kinds": lora.kinds}


def _dora_from_scale(module: str, adapter: ModuleAdapter, cut: ModuleAdapter, base: BaseWeights | None) -> ModuleAdapter:
    """A dora_scale-only DoRA: its magnitude (from the uncut update) must be known first."""
    whole = ModuleAdapter(DORA, dict(adapter.tensors))
    complete_dora({module: whole}, base, want_scale=False)
    return ModuleAdapter(DORA, {**cut.tensors, MAGNITUDE: whole.tensors[MAGNITUDE]})


"""merge: several LoRA files of one LTX-2 version, each at its strength, into one file.

Per layer: LoRAs merge exactly by concatenating their ranks (A stacked, B side by side with
each file's strength), so the result's rank is the sum of theirs; a layer only one file has
keeps that file's adapter, scaled (a LoKr stays a LoKr). A layer where a LoKr meets another
adapter has no exact low-rank form: its summed update is cut to `--rank R` by SVD (required
then), and `--rank` also cuts the concatenated LoRAs when given. The relative error
||ΔW_merged - ΔW_exact|| / ||ΔW_exact|| is reported per module family, computed on the tensors
as written (an SVD cut that involves a LoKr reports its truncation error; rounding to the file's
dtype comes on top). DoRA files are refused (their magnitudes rescale whole weight rows, so two DoRAs do
not add), and so are files of different LTX-2 versions (a LoRA only works on the version it was
trained on).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from extensions_built_in.diffusion_models.ltx2.lora_files.adapter import DORA, LORA, ModuleAdapter
from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import (
    ALL_VERSIONS,
    COMFYUI,
    LORA_A,
    LORA_B,
    WRITABLE,
    family_of,
)
from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import (
    LoraFile,
    check_output,
    output_metadata,
    write_lora,
)
from extensions_built_in.diffusion_models.ltx2.lora_files.lowrank import kron_norm_sq, lora_norms, spectrum
from toolkit.errors import UserInputError


@dataclass
class FamilyError:
    layers: int = 0
    svd_layers: int = 0
    exact_sq: float = 0.0
    diff_sq: float = 0.0

    @property
    def relative_error(self) -> float:
        return (self.diff_sq / self.exact_sq) ** 0.5 if self.exact_sq > 0 else 0.0


def common_version(files: list[LoraFile]) -> str:
    """The version every file fits; a named refusal when they fit none together."""
    fits = set(ALL_VERSIONS)
    for lora in files:
        fits &= set(lora.versions)
    if not fits:
        described = "; ".join(f"'{f.path.name}' is for {f.version_text} ({f.version_reason})" for f in files)
        raise UserInputError(f"refused: the files are for different LTX-2 versions: {described}. A LoRA only "
                             "works on the version it was trained on: merge files of one version")
    return next(v for v in ALL_VERSIONS if v in fits) if len(fits) == 1 else ""


@dataclass
class Merged:
    adapter: ModuleAdapter
    by_svd: bool
    exact_sq: float  # ||Σ strength · ΔW||²
    diff_sq: float  # ||ΔW_merged - that||²


def _merged(terms: list[tuple[ModuleAdapter, float]], rank: int | None, module: str) -> Merged:
    """One layer merged; its error from the factors (Gram matrices for LoRAs, the factor norms
    for a kept LoKr, the dropped singular values for an SVD cut that involves a LoKr), so no
    out x in matrix is formed where the factors allow."""
    dtype = terms[0][0].dtype
    lora_only = all(a.kind == LORA for a, _ in terms)
    if len(terms) == 1 and not lora_only and rank is None:  # a LoKr only one file has: kept, scaled
        adapter, weight = terms[0]
        kept = adapter.scaled(weight)
        exact_sq = kron_norm_sq(adapter.factor("w1") * weight, adapter.factor("w2"))
        diff_sq = kron_norm_sq(kept.factor("w1") - adapter.factor("w1") * weight, adapter.factor("w2"))
        return Merged(kept, False, exact_sq, diff_sq)
    if lora_only:
        if rank is None or sum(a.rank for a, _ in terms) <= rank:
            lora_a = torch.cat([a.tensors[LORA_A].float() for a, _ in terms]).to(dtype)
            lora_b = torch.cat([a.tensors[LORA_B].float() * w for a, w in terms], dim=1).to(dtype)
            merged, by_svd = ModuleAdapter(LORA, {LORA_A: lora_a, LORA_B: lora_b}), False
        else:
            merged, by_svd = spectrum(terms, limit=rank).truncated(rank, dtype), True
        return Merged(merged, by_svd, *lora_norms(terms, merged))
    if rank is None:
        raise UserInputError(f"layer {module} is a LoKr in one file and also adapted by another: LoKr factors do not "
                             "add up to a LoKr or a low-rank LoRA; give --rank R to merge it by SVD")
    spec = spectrum(terms, limit=rank)
    # The truncation error (Eckart-Young); rounding to the file's dtype comes on top (bf16: ~1e-3).
    return Merged(spec.truncated(rank, dtype), True, spec.energy, spec.energy * (1.0 - spec.retained(rank)))


def merge(inputs: list[tuple[LoraFile, float]], out: Path, rank: int | None = None, naming: str | None = None,
          overwrite: bool = False) -> dict:
    files = [lora for lora, _ in inputs]
    if len(inputs) < 2:
        raise UserInputError("give at least two files (FILE:STRENGTH ...)")
    for lora in files:
        lora.require_understood("merge")
        if DORA in lora.kinds:
            raise UserInputError(f"refused: '{lora.path}' is a DoRA: its magnitude vector rescales whole weight "
                                 "rows, so DoRAs do not add; no exact or SVD merge of the update exists")
    if rank is not None and rank < 1:
        raise UserInputError(f"--rank {rank}: the rank must be at least 1")
    version = common_version(files)
    naming = naming or (files[0].naming if files[0].naming in WRITABLE else COMFYUI)
    out = check_output(out, [lora.path for lora in files], overwrite)
    modules: dict[str, ModuleAdapter] = {}
    errors: dict[str, FamilyError] = {}
    for module in tqdm(sorted({m for lora in files for m in lora.modules}), desc="merge", unit="layer", leave=False):
        terms = [(lora.modules[module], float(w)) for lora, w in inputs if module in lora.modules]
        merged = _merged(terms, rank, module)
        modules[module] = merged.adapter
        family = errors.setdefault(family_of(module).name, FamilyError())
        family.layers += 1
        family.svd_layers += merged.by_svd
        family.exact_sq += merged.exact_sq
        family.diff_sq += merged.diff_sq
    strengths = ", ".join(f"{lora.path.name}:{w:g}" for lora, w in inputs)
    note = f"merge of {strengths}" + (f" (SVD to rank {rank} where needed)" if rank else "")
    write_lora(out, naming, modules, version, output_metadata(files, naming, modules, version, note))
    total_exact = sum(e.exact_sq for e in errors.values())
    total = (sum(e.diff_sq for e in errors.values()) / total_exact) ** 0.5 if total_exact > 0 else 0.0
    return {"output": str(out), "naming": naming, "version": version, "layers": len(modules),
            "ranks": sorted({a.rank for a in modules.values() if a.rank}),
            "families": {name: {"layers": e.layers, "svd_layers": e.svd_layers, "relative_error": e.relative_error}
                         for name, e in errors.items()},
            "relative_error": total, "exact": all(e.svd_layers == 0 for e in errors.values())}

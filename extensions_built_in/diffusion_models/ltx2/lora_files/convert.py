"""convert: a LoRA file in another key naming (ComfyUI, diffusers, musubi-tuner), same updates.

The layers are read into one form (lora_file.py: scales folded in) and written in
the target's names. Converting to a naming and back gives the same keys; the tensors hold the
same update (a musubi-tuner alpha comes back as alpha = rank with the scale folded into
lora_up). DoRA files need the base model (`--base`) when the target needs the form of the
magnitude the file lacks (ComfyUI's dora_scale, or peft's magnitude from a dora_scale-only file).
"""

from __future__ import annotations

import copy
from pathlib import Path

from extensions_built_in.diffusion_models.ltx2.lora_files.base_weights import BaseWeights, complete_dora
from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import (
    COMFYUI,
    NAMING_LABELS,
    WRITABLE,
    NotNameable,
)
from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import (
    LoraFile,
    check_output,
    output_metadata,
    write_lora,
)
from toolkit.errors import UserInputError


def convert(lora: LoraFile, naming: str, out: Path, base: BaseWeights | None = None, overwrite: bool = False) -> dict:
    if naming not in WRITABLE:
        raise UserInputError(f"convert --to {naming}: not a naming these tools write (use {', '.join(WRITABLE)})")
    lora.require_understood("convert")
    out = check_output(out, [lora.path], overwrite)
    modules = copy.deepcopy(lora.modules)
    complete_dora(modules, base, want_scale=naming == COMFYUI)
    note = f"convert of {lora.path.name} from {lora.naming} to {naming} names"
    metadata = output_metadata([lora], naming, modules, lora.version, note)
    try:
        write_lora(out, naming, modules, lora.version, metadata)
    except NotNameable as exc:
        raise UserInputError(f"{lora.path}: convert --to {naming}: {exc}") from exc
    return {"output": str(out), "from": lora.naming, "to": naming, "to_label": NAMING_LABELS[naming],
            "layers": len(modules)}

"""What ComfyUI and diffusers do with a LoRA file's keys, without running either.

ComfyUI: its key rules as written down in extensions_built_in/diffusion_models/ltx2/lora_format/comfy_rules.py, applied to a model
that has every layer the file names (the file's own layers in the original checkpoint's names).
diffusers: `LTX2LoraLoaderMixin.lora_state_dict` + `load_lora_weights` (diffusers 0.42.1,
loaders/lora_pipeline.py), step by step: `dora_scale` keys are dropped with a warning; if any key
starts with `diffusion_model.`, only those keys are kept and renamed to `transformer.` (the
others are silently left out); `text_embedding_projection.` keys become `connectors.`; then every
remaining key must contain "lora" or the whole file is refused ("Invalid LoRA checkpoint"); keys
under neither `transformer.` nor `connectors.` are ignored, and peft warns about the keys of
layers the model does not have. tests/test_lora_tools_files.py holds this to diffusers' own
`lora_state_dict` on every trainer's file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import (
    CLIP,
    TRANSFORMER,
    comfy_homes,
    comfy_load,
    comfy_state_keys,
    connectors_key,
    lora_key_map,
    parse_key,
    split_module,
    split_suffix,
    transformer_key,
)
from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import LoraFile

_TE_MARKER = "text_embedding_projection.aggregate_embed.weight"  # 2.0's shared projection


def checkpoint_key(module: str) -> str:
    """The original checkpoint's name of a layer's weight."""
    root, path = split_module(module)
    return (transformer_key if root == TRANSFORMER else connectors_key)(f"{path}.weight")


@dataclass
class ComfyReport:
    applied: list[str]  # layers ComfyUI patches (all their homes)
    missed: list[str]  # layers it leaves out
    not_loaded: list[str]  # keys it logs as "lora key not loaded"
    text_encoder_part: bool  # some of it applies only through a loader that takes the CLIP


def comfyui_report(lora: LoraFile) -> ComfyReport:
    keys = [k for ks in lora.keys.values() for k in ks] + lora.unknown_keys
    checkpoint = {m: checkpoint_key(m) for m in lora.modules}
    te_connectors = lora.versions == ("2.0",)
    model_keys, clip_keys = comfy_state_keys(list(checkpoint.values()) + ([_TE_MARKER] if te_connectors else []))
    load = comfy_load(keys, lora_key_map(model_keys, clip_keys))
    applied, missed = [], []
    for module, original in sorted(checkpoint.items()):
        homes = comfy_homes(original, te_connectors)
        (applied if all(home in load.patched for home in homes) else missed).append(module)
    return ComfyReport(applied, missed, load.not_loaded, any(part == CLIP for part, _ in load.patched))


@dataclass
class DiffusersReport:
    refused: str = ""  # why the whole file is refused ('' when it loads)
    loaded: list[str] = field(default_factory=list)  # the peft keys it loads
    dropped: dict[str, str] = field(default_factory=dict)  # file key -> why it is not loaded


def diffusers_report(keys: list[str]) -> DiffusersReport:
    report = DiffusersReport()
    state = []
    for key in keys:
        if "dora_scale" in key:
            report.dropped[key] = "diffusers drops dora_scale (it reads lora_magnitude_vector)"
        else:
            state.append(key)
    comfy_form = any(k.startswith("diffusion_model.") for k in state)
    final: dict[str, str] = {}  # peft key -> file key
    for key in state:
        name = parse_key(key)
        if key.startswith("diffusion_model."):
            module = name.module if name else ""
            if name and module.startswith(f"{TRANSFORMER}."):
                final[_peft_key(key, module)] = key
            else:  # original connector names (or no LTX-2 layer) land under transformer. and are unexpected
                report.dropped[key] = "unexpected key: diffusers renames it to a transformer layer that does not exist"
        elif key.startswith("text_embedding_projection."):
            final[_peft_key(key, name.module) if name else key] = key
        elif comfy_form:
            report.dropped[key] = "left out: diffusers reads only diffusion_model. and text_embedding_projection. " \
                                  "keys from a file that has diffusion_model. keys"
        else:
            final[key] = key
    bad = [final[k] for k in final if "lora" not in k]
    if bad:
        report.refused = (f"diffusers refuses the whole file (\"Invalid LoRA checkpoint\": every key must contain "
                          f"'lora'), e.g. {bad[0]}")
        return report
    for peft, key in final.items():
        name = parse_key(peft)
        if not peft.startswith(("transformer.", "connectors.")):
            report.dropped[key] = "ignored: not under transformer. or connectors."
        elif name is None:
            report.dropped[key] = "unexpected key: no such LTX-2 layer"
        else:
            report.loaded.append(peft)
    return report


def _peft_key(key: str, module: str) -> str:
    """The peft key diffusers makes of a file key: the layer's diffusers name + the key's own suffix."""
    stem, _ = split_suffix(key)
    return module + key[len(stem):]

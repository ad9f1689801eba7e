"""What ComfyUI will do with the LoRA file we just saved, said once per run at save time.

The rules are ComfyUI's (extensions_built_in/diffusion_models/ltx2/lora_format/comfy_rules.py); the model is the one being trained,
named as the original checkpoint names it (extensions_built_in/diffusion_models/ltx2/weights/keys_dit.py), which is how
ComfyUI names its modules."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from extensions_built_in.diffusion_models.ltx2.lora_format.comfy_rules import (
    CLIP,
    comfy_homes,
    comfy_load,
    comfy_state_keys,
    lora_key_map,
    text_encoder_runs_connectors,
)
from extensions_built_in.diffusion_models.ltx2.weights.keys_dit import connectors_key, transformer_key


def _weight_names(module: torch.nn.Module) -> list[str]:
    """`<module path>.weight` of every layer with a weight, without peft's own sub-layers
    (a wrapped layer is named as before it was wrapped)."""
    names = []
    for name, sub in module.named_modules():
        parts = name.split(".")
        if parts[-1] == "base_layer" or any(p.startswith(("lora_", "lokr_")) for p in parts):
            continue
        if isinstance(getattr(sub, "weight", None), torch.Tensor):
            names.append(f"{name}.weight")
    return names


def trained_model_checkpoint_keys(network) -> tuple[list[str], list[str]]:
    """(every weight of the trained model, the weights the network adapts), in checkpoint names."""
    everything = [transformer_key(k) for k in _weight_names(network.transformer)]
    trained = [transformer_key(f"{t}.weight") for t in network.targets]
    if network.connectors is not None:
        everything += [connectors_key(k) for k in _weight_names(network.connectors)]
        trained += [connectors_key(f"{t}.weight") for t in network.connector_targets]
    return everything, trained


def comfyui_report(file_keys: Iterable[str], checkpoint_keys: Iterable[str], trained_keys: Iterable[str]):
    """(ComfyUI weights of trained layers it leaves unpatched, the load) for a file of
    `file_keys`; a 2.0 connector layer must reach both of its ComfyUI copies."""
    checkpoint_keys = list(checkpoint_keys)
    model_keys, clip_keys = comfy_state_keys(checkpoint_keys)
    load = comfy_load(file_keys, lora_key_map(model_keys, clip_keys))
    te_connectors = text_encoder_runs_connectors(checkpoint_keys)
    wanted = {home for key in trained_keys for home in comfy_homes(key, te_connectors)}
    return sorted(wanted - set(load.patched)), load


def comfyui_save_notes(network, fmt: str) -> list[tuple[str, str]]:
    """("info" | "warning", line) about ComfyUI and the file `network` saved last."""
    everything, trained = trained_model_checkpoint_keys(network)
    missing, load = comfyui_report(network.saved_keys, everything, trained)
    notes = []
    if missing:
        example = ", ".join(key for _, key in missing[:3])
        hint = " (save.format: diffusers; the default comfyui format is the one ComfyUI reads)" if fmt == "diffusers" else ""
        notes.append(("warning", f"ComfyUI will ignore {len(missing)} of the {len(trained)} trained layers of this "
                                 f"LoRA file{hint}, e.g. {example}"))
    if any(part == CLIP for part, _ in load.patched):
        notes.append(("info", "ComfyUI: the text-side part of this LoRA (keys text_encoders.*: the text projection, and "
                              "for LTX-2.0 the connectors ComfyUI's text encoder runs) applies only through a LoRA loader "
                              "that also takes the CLIP (LoraLoader, not LoraLoaderModelOnly)"))
    if load.not_loaded and not missing:
        kinds = []
        if any(k.startswith("text_embedding_projection.") for k in load.not_loaded):
            kinds.append("the text-connector keys under text_embedding_projection.*, which ComfyUI reads under its own names")
        if any(k.endswith(".lora_magnitude_vector") for k in load.not_loaded):
            kinds.append("DoRA's lora_magnitude_vector, which ComfyUI reads as dora_scale")
        notes.append(("info", f"ComfyUI will log 'lora key not loaded' for {len(load.not_loaded)} keys of this file, "
                              f"the copies diffusers reads: {'; '.join(kinds) or ', '.join(load.not_loaded[:3])}"))
    return notes

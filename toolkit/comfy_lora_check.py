"""What ComfyUI will do with the LoRA file we just saved, said once per run at save time.

The rules are ComfyUI's (toolkit/comfy_lora_rules.py); the model is the one being trained,
named as the original checkpoint names it (toolkit/model_files/keys_dit.py), which is how
ComfyUI names its modules."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from toolkit.comfy_lora_rules import CLIP, MODEL, comfy_load, comfy_weight_key, lora_key_map
from toolkit.model_files.keys_dit import connectors_key, transformer_key


def comfy_state_keys(checkpoint_keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """Original checkpoint keys -> (ComfyUI diffusion-model keys, ComfyUI text-encoder keys);
    keys of parts ComfyUI loads elsewhere (VAEs, vocoder) are left out."""
    model, clip = [], []
    for key in checkpoint_keys:
        try:
            part, comfy_key = comfy_weight_key(key)
        except ValueError:
            continue
        (model if part == MODEL else clip).append(comfy_key)
    return model, clip


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
    """(trained weights ComfyUI leaves unpatched, the load) for a file of `file_keys`."""
    model_keys, clip_keys = comfy_state_keys(checkpoint_keys)
    load = comfy_load(file_keys, lora_key_map(model_keys, clip_keys))
    wanted = {comfy_weight_key(k) for k in trained_keys}
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
        notes.append(("info", "ComfyUI: the text-projection part of this LoRA (text_encoders.text_embedding_projection.*) "
                              "applies only through a LoRA loader that also takes the CLIP (LoraLoader, not "
                              "LoraLoaderModelOnly)"))
    if load.not_loaded and not missing:
        kinds = []
        if any(k.startswith("text_embedding_projection.") for k in load.not_loaded):
            kinds.append("the text-connector keys under text_embedding_projection.*, which ComfyUI reads under its own names")
        if any(k.endswith(".lora_magnitude_vector") for k in load.not_loaded):
            kinds.append("DoRA's lora_magnitude_vector, which ComfyUI reads as dora_scale")
        notes.append(("info", f"ComfyUI will log 'lora key not loaded' for {len(load.not_loaded)} keys of this file, "
                              f"the copies diffusers reads: {'; '.join(kinds) or ', '.join(load.not_loaded[:3])}"))
    return notes

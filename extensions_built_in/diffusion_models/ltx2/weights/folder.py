"""One component of a diffusers-format folder, opened for streaming (stream.py) like a weight file.

A diffusers component folder (`transformer/`, `vae/`, ...) holds `config.json` and
`diffusion_pytorch_model.safetensors` (or shards listed in `....safetensors.index.json`) whose
keys are the module's own. The text encoder folder holds transformers' multimodal Gemma
(`model.safetensors`, or shards): only its language model is built and read (the trainer needs
the text hidden states; the vision tower is never loaded), under any of the key spellings
keys_gemma.py knows.

Reading the folder ourselves, rather than through `from_pretrained`, is what lets each block be
quantized or sent to the GPU as it is read (no full copy of the component in host memory), and
gives the same module: tests/test_load_streaming.py compares every parameter and buffer with
the libraries' own loading.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from extensions_built_in.diffusion_models.ltx2.weights.components import DESCRIPTION
from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError
from extensions_built_in.diffusion_models.ltx2.weights.keys_gemma import (
    is_text_model_key,
    text_encoder_alternatives,
    text_encoder_key,
)
from extensions_built_in.diffusion_models.ltx2.weights.load import build_component, locate_tensors
from extensions_built_in.diffusion_models.ltx2.weights.stream import ComponentWeights
from extensions_built_in.diffusion_models.ltx2.weights.weight_file import WeightFile

WEIGHT_STEMS = ("diffusion_pytorch_model", "model")


def folder_weight_files(folder: Path, what: str) -> list[Path]:
    """The .safetensors files of a component folder (one file, or the shards of its index)."""
    for stem in WEIGHT_STEMS:
        index = folder / f"{stem}.safetensors.index.json"
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ModelFileError(f"{what}: the shard index {index} is unreadable ({exc})") from exc
            return [folder / name for name in sorted(set(weight_map.values()))]
        single = folder / f"{stem}.safetensors"
        if single.is_file():
            return [single]
    others = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt*"))
    found = f" (it has {', '.join(others[:3])}: convert them to .safetensors)" if others else ""
    raise ModelFileError(f"{what}: {folder} has no .safetensors weights{found}")


def folder_text_config(config: dict) -> dict:
    """The language model's config in a text encoder folder's config.json (a multimodal Gemma
    keeps it under text_config; a text-only one is the whole file)."""
    return dict(config.get("text_config") or config)


def open_folder_component(component: str, version: str, folder: Path, dtype: torch.dtype | None) -> ComponentWeights:
    """`component` of a diffusers-format folder, built empty and every tensor located."""
    what = f"LTX-{version} {DESCRIPTION[component]}"
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{what}: the config {folder / 'config.json'} is unreadable ({exc})") from exc
    if component == "text_encoder":
        config = folder_text_config(config)
    files = [WeightFile("folder", path, what) for path in folder_weight_files(folder, what)]
    holder = {key: file for file in files for key in file.keys}
    if component == "text_encoder":
        def spell(key: str) -> list[str]:
            return text_encoder_alternatives(text_encoder_key(key))

        def owned(file, key: str) -> bool:
            return is_text_model_key(key)
    else:
        def spell(key: str) -> list[str]:
            return [key]

        def owned(file, key: str) -> bool:
            return True

    def locate(key: str):
        for spelling in spell(key):
            if spelling in holder:
                return holder[spelling], spelling
        return None

    return locate_tensors(what, build_component(component, version, config, dtype), locate, files, owned, dtype,
                          original=lambda key: spell(key)[-1])

"""Write a diffusers LTX-2 component set as original weight files (the loader's inverse).

    python -m extensions_built_in.diffusion_models.ltx2.weights.write --layout single SRC_DIR OUT.safetensors
    python -m extensions_built_in.diffusion_models.ltx2.weights.write --layout split SRC_DIR MODELS_DIR   # LTX-2.5 ComfyUI layout

SRC_DIR is a diffusers-format folder (transformer/, connectors/, vae/, audio_vae/, vocoder/,
and for 2.5 text_encoder/ + tokenizer/). Keys are renamed with the same tables the loader
reads with. Each file also carries `model_version` and, in `diffusers_configs`, the diffusers
config of every component it holds, so a file written here loads without a config table
(tiny test models are self-describing). Files are written next to their place and renamed
into it, so an interrupted write leaves no half file.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModel

from extensions_built_in.diffusion_models.ltx2.weights.classes import component_class, plain_config
from extensions_built_in.diffusion_models.ltx2.weights.components import (
    DESCRIPTION,
    check_version,
    key_namer,
)
from extensions_built_in.diffusion_models.ltx2.weights.file_index import (
    CONFIGS_METADATA,
    GEMMA_METADATA,
    VERSION_METADATA,
)
from extensions_built_in.diffusion_models.ltx2.weights.layout import (
    SPLIT_FILES_25,
    key_in_file,
    single_file_name,
    split_role,
)
from extensions_built_in.diffusion_models.ltx2.weights.tokenizer_assets import to_tensors
from toolkit.atomic import atomic_save_tensors

FILE_COMPONENTS = ("transformer", "connectors", "vae", "audio_vae", "vocoder")


def original_tensors(component: str, module) -> dict[str, torch.Tensor]:
    """A component's state dict under its original (single-file) names."""
    config = text_config(module) if component == "text_encoder" else plain_config(module)
    namer = key_namer(component, config)
    return {namer(k): v for k, v in module.state_dict().items()}


def text_config(module) -> dict[str, Any]:
    return {k: v for k, v in module.config.to_dict().items() if k not in ("dtype", "torch_dtype")}


def write_single_file(parts: Mapping[str, Any], version: str, out: str | os.PathLike) -> Path:
    """One original file (`ltx-2…-dev.safetensors` layout) from transformer, connectors, VAEs, vocoder."""
    check_version(version)
    tensors, configs = {}, {}
    for component in FILE_COMPONENTS:
        tensors.update(original_tensors(component, parts[component]))
        configs[component] = plain_config(parts[component])
    return _save(tensors, _metadata(version, configs), Path(out))


def write_text_encoder_file(text_model, version: str, out: str | os.PathLike, *, record_config: bool = True) -> Path:
    """A Gemma text model alone in ComfyUI's flat layout (`model.layers.…`), as ComfyUI's Gemma 3
    file for 2.0/2.3. `record_config=False` leaves the Gemma config out, as ComfyUI's file does.
    No model_version is recorded: one Gemma 3 file serves 2.0 and 2.3 alike."""
    check_version(version)
    meta = {"format": "pt"}
    if record_config:
        meta[GEMMA_METADATA] = json.dumps({"model_type": text_model.config.model_type,
                                           "text_config": text_config(text_model)})
    return _save(original_tensors("text_encoder", text_model), meta, Path(out))


def write_split_files(parts: Mapping[str, Any], version: str, models_dir: str | os.PathLike,
                      tokenizer_files: Mapping[str, bytes] | None = None) -> dict[str, Path]:
    """The LTX-2.5 split pack in ComfyUI's folder layout under `models_dir`; returns role -> file."""
    check_version(version)
    by_role: dict[str, dict[str, torch.Tensor]] = {role: {} for role in SPLIT_FILES_25}
    configs: dict[str, dict[str, Any]] = {role: {} for role in SPLIT_FILES_25}
    for component in FILE_COMPONENTS + (("text_encoder",) if "text_encoder" in parts else ()):
        for key, tensor in original_tensors(component, parts[component]).items():
            role = split_role(component, key)
            by_role[role][key_in_file(role, key)] = tensor
        if component != "text_encoder":
            configs[split_role(component, "")][component] = plain_config(parts[component])
    extra = {"text_encoder": {}}
    if "text_encoder" in parts:
        extra["text_encoder"][GEMMA_METADATA] = json.dumps(
            {"model_type": "gemma4_unified", "text_config": text_config(parts["text_encoder"])})
    if tokenizer_files:
        by_role["text_encoder"].update(to_tensors(dict(tokenizer_files)))
    out = {}
    for role, rel in SPLIT_FILES_25.items():
        name = rel.replace("ltx-2.5", f"ltx-{version}") if version != "2.5" else rel
        meta = _metadata(version, configs[role])
        meta.update(extra.get(role, {}))
        out[role] = _save(by_role[role], meta, Path(models_dir) / name)
    return out


def _metadata(version: str, configs: dict[str, Any]) -> dict[str, str]:
    meta = {VERSION_METADATA: f"{version}.0", "format": "pt"}
    if configs:
        meta[CONFIGS_METADATA] = json.dumps(configs)
    return meta


def _save(tensors: dict[str, torch.Tensor], metadata: dict[str, str], out: Path) -> Path:
    seen, ready = set(), {}
    for key, tensor in tensors.items():
        tensor = tensor.detach().cpu().contiguous()
        ptr = (tensor.untyped_storage().data_ptr(), tensor.storage_offset()) if tensor.numel() else None
        # safetensors refuses tensors that share memory (tied weights): give repeats their own copy
        ready[key] = tensor.clone() if ptr in seen else tensor
        if ptr is not None:
            seen.add(ptr)
    return atomic_save_tensors(out, ready, metadata)


# ---------------------------------------------------------------- command line

def detect_version(transformer_config: dict[str, Any]) -> str:
    if transformer_config.get("use_keyframes_abs_pos_embedding"):
        return "2.5"
    return "2.3" if transformer_config.get("cross_attn_mod") else "2.0"


def folder_version(src: Path) -> str:
    if not (src / "transformer" / "config.json").is_file():
        raise SystemExit(f"error: {src} is not a diffusers-format LTX-2 folder (no transformer/config.json)")
    return detect_version(json.loads((src / "transformer" / "config.json").read_text()))


def read_diffusers_folder(src: Path, version: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(component -> module, tokenizer files) from a diffusers-format folder."""
    parts: dict[str, Any] = {}
    for component in FILE_COMPONENTS:
        folder = src / component
        if not (folder / "config.json").is_file():
            raise SystemExit(f"error: {src} has no {component}/ folder ({DESCRIPTION[component]})")
        config = json.loads((folder / "config.json").read_text())
        parts[component] = component_class(component, version, config).from_pretrained(folder).eval()
    tokenizer_files: dict[str, bytes] = {}
    if version == "2.5" and (src / "text_encoder").is_dir():
        model = AutoModel.from_pretrained(src / "text_encoder")
        # the file holds the language model only: unwrap the unified (vision/audio) wrapper
        parts["text_encoder"] = getattr(model, "language_model", model)
        if not (src / "tokenizer").is_dir():
            raise SystemExit(f"error: {src} has text_encoder/ but no tokenizer/ folder: the 2.5 text-encoder "
                             "file embeds the tokenizer")
        tokenizer_files = {p.name: p.read_bytes() for p in (src / "tokenizer").iterdir() if p.is_file()}
    return parts, tokenizer_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=("single", "split"), required=True)
    parser.add_argument("--version", choices=("2.0", "2.3", "2.5"), help="default: read from the transformer config")
    parser.add_argument("src", type=Path, help="diffusers-format LTX-2 folder")
    parser.add_argument("out", type=Path, help="the .safetensors file (single) or a ComfyUI models folder (split)")
    args = parser.parse_args(argv)
    version = args.version or folder_version(args.src)
    if args.layout == "split" and version != "2.5":
        raise SystemExit(f"error: the split layout is LTX-2.5's; {args.src} is LTX-{version} (use --layout single)")
    parts, tokenizer_files = read_diffusers_folder(args.src, version)
    if args.layout == "single":
        target = args.out if args.out.suffix == ".safetensors" else args.out / single_file_name(version)
        print(f"wrote {write_single_file(parts, version, target)}")
        return 0
    for role, path in write_split_files(parts, version, args.out, tokenizer_files).items():
        print(f"wrote {role}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""ComfyUI's Gemma 3 single file as the LTX-2.0 / 2.3 text encoder (`model.te_name_or_path`).

ai-toolkit reads `gemma_3_12B_it.safetensors` (ComfyUI's text-encoder file) for 2.0/2.3. ComfyUI's
file carries Gemma's SentencePiece tokenizer as the tensor `spiece_model` (read by
extensions_built_in/diffusion_models/ltx2/weights/tokenizer_assets.py); a file without it (a plain transformers export) takes
the tokenizer from `tokenizer/` of a folder. Neither carries the Gemma configuration: it comes
from `text_encoder/config.json` of `extras_name_or_path` (or `name_or_path` when that is a
folder), e.g. Lightricks/LTX-2 with only that downloaded. A file written by extensions_built_in.diffusion_models.ltx2.weights
that records its config needs no config.json. The weights load into transformers' Gemma 3 text
model (the trainer only needs its hidden states); vision-tower weights in the file are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import Gemma3Config, Gemma3TextConfig

from extensions_built_in.diffusion_models.ltx2.weights.file_index import GEMMA_METADATA, read_header
from toolkit.errors import UserInputError


def gemma3_text_config(file: Path, folders: dict[str, Path], find) -> dict | None:
    """The Gemma 3 text config for `file`: None when the file records its own, else the one
    of the first folder's `text_encoder/config.json` (`find(component, key, folder)` locates it)."""
    _, metadata = read_header(file, "model.te_name_or_path")
    if metadata.get(GEMMA_METADATA):
        return None
    looked = []
    for key in ("extras_name_or_path", "name_or_path"):
        if key not in folders:
            continue
        found = find("text_encoder", key, folders[key])
        looked.append(f"{folders[key] / 'text_encoder'} (model.{key})")
        if found is not None:
            return _text_config(found / "config.json")
    raise UserInputError(
        f"model.te_name_or_path '{file}' is a Gemma 3 weight file without its configuration (ComfyUI's "
        f"files carry none); looked for text_encoder/config.json in {'; '.join(looked) or 'no folder (none given)'}. "
        "Set model.extras_name_or_path to a folder with text_encoder/config.json (and tokenizer/ when the file has "
        "no spiece_model tensor), e.g. "
        "Lightricks/LTX-2 with only those downloaded (huggingface-cli download Lightricks/LTX-2 "
        "--include 'tokenizer/*' 'text_encoder/config.json')")


def _text_config(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"model: the Gemma 3 config {path} is unreadable: {exc}") from exc
    # The multimodal model's config nests the text model's; filling it through the classes gives
    # the same defaults transformers would use for a missing key.
    text = Gemma3TextConfig(**raw) if raw.get("model_type") == "gemma3_text" else Gemma3Config(**raw).text_config
    return {k: v for k, v in text.to_dict().items() if k not in ("dtype", "torch_dtype", "architectures")}

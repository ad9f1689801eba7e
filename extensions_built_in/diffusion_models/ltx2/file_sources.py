"""Original weight files for the adapter: which files a model section names, and their modules.

Three shapes of `model.name_or_path` are weight files rather than diffusers folders (see
docs/models.md): one original single file (`ltx-2.3-22b-dev.safetensors`, also as ai-toolkit's
`org/repo/file.safetensors` in the Hugging Face cache), LTX-2.5's split files in a ComfyUI
`models` folder (or `Lightricks/LTX-2.5` in the cache), and the `model.model_kwargs` paths
`dit_path`, `text_encoder_path`, `video_vae_path`, `audio_vae_path`. `extensions_built_in.diffusion_models.ltx2.weights`
finds and reads them; this module decides the inputs it gets.

Which config builds a component: a file that records its diffusers config (files written by
`extensions_built_in.diffusion_models.ltx2.weights.write`, e.g. the tiny models) is built from that config; every other file
(Lightricks' and ComfyUI's carry none) from the version table's real config. The file says
what it is when it can; the table is right for every released file.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from extensions_built_in.diffusion_models.ltx2.versions import LTX2Version
from extensions_built_in.diffusion_models.ltx2.weights.file_index import CONFIGS_METADATA, SPIECE_MODEL, read_header
from extensions_built_in.diffusion_models.ltx2.weights.resolve import resolve_model_files
from toolkit.errors import UserInputError

# The components an original file holds (the text side only in LTX-2.5's text-encoder file).
FILE_COMPONENTS = ("transformer", "connectors", "vae", "audio_vae", "vocoder")


def is_file_checkpoint(value: str) -> bool:
    """An original single file or a split file (`x.safetensors`, `org/repo/x.safetensors`)."""
    return value.lower().endswith((".safetensors", ".sft", ".gguf"))


def weight_files(version: LTX2Version, name_or_path: str, te_name_or_path: str | None,
                 extras_name_or_path: str | None, file_paths: dict[str, str]) -> dict[str, Path] | None:
    """File role -> path (see extensions_built_in/diffusion_models/ltx2/weights/layout.py), or None for a diffusers-format
    folder or hub id. Every problem is one UserInputError naming the key, the file and where it
    was looked for."""
    kwargs = dict(file_paths)
    if te_name_or_path and is_file_checkpoint(te_name_or_path):
        # The text-encoder file, as in ai-toolkit: LTX-2.5's packed Gemma 4 file (tokenizer and
        # projection inside) or, for 2.0/2.3, ComfyUI's Gemma 3 file (gemma3_file.py)
        kwargs.setdefault("text_encoder_path", te_name_or_path)
    if extras_name_or_path and is_file_checkpoint(extras_name_or_path):
        raise UserInputError(
            f"model.extras_name_or_path '{extras_name_or_path}' is a weight file; it names a diffusers-format "
            f"folder or hub id (e.g. {version.hub_id}) that supplies the components name_or_path lacks")
    files = resolve_model_files(version.number, name_or_path, kwargs)
    if files is None and kwargs:
        where = f"model.model_kwargs.{sorted(file_paths)[0]}" if file_paths else "model.te_name_or_path"
        raise UserInputError(
            f"{where} names a weight file, but model.name_or_path '{name_or_path}' is a diffusers-format folder "
            "or repo: weight files replace the components of an original file or LTX-2.5 split files only. "
            "Point model.name_or_path at the original file or ComfyUI models folder, or remove the file path")
    return files


def stored_config_components(files: dict[str, Path]) -> set[str]:
    """Components whose diffusers config one of the files records in its metadata."""
    described: set[str] = set()
    for role, path in files.items():
        _, metadata = read_header(path, f"model file ({role})")
        raw = metadata.get(CONFIGS_METADATA)
        if raw:
            try:
                described |= set(json.loads(raw))
            except (json.JSONDecodeError, TypeError) as e:
                raise UserInputError(f"{path}: metadata '{CONFIGS_METADATA}' is not valid JSON ({e})") from e
    return described


def table_configs(version: LTX2Version, files: dict[str, Path]) -> dict[str, dict]:
    """The version table's config for every file component whose file records none."""
    described = stored_config_components(files)
    return {name: copy.deepcopy(getattr(version, f"{name}_config"))
            for name in FILE_COMPONENTS if name not in described}


def file_components(files: dict[str, Path], version: LTX2Version) -> set[str]:
    """The components these files hold: the text encoder with a text-encoder file, and its
    tokenizer with LTX-2.5's and with a Gemma 3 file that carries ComfyUI's `spiece_model`
    (otherwise Gemma 3's comes from a folder)."""
    if "text_encoder" not in files:
        return set(FILE_COMPONENTS)
    with_tokenizer = version.number == "2.5" or carries_tokenizer(files["text_encoder"])
    return set(FILE_COMPONENTS) | ({"text_encoder", "tokenizer"} if with_tokenizer else {"text_encoder"})


def carries_tokenizer(path: Path) -> bool:
    """Whether a Gemma 3 text-encoder file holds its SentencePiece tokenizer (ComfyUI's files do)."""
    keys, _ = read_header(path, "model.te_name_or_path")
    return SPIECE_MODEL in keys


def describe(files: dict[str, Path]) -> str:
    """Where the transformer came from, for the log and the caches' model identity."""
    return str(files.get("checkpoint") or files.get("dit"))

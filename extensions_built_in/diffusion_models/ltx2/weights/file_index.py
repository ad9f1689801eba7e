"""A safetensors weight file read from its header alone (no torch): its keys, its metadata, and the
metadata names our files carry (weight_file.py opens a file for its tensors)."""

from __future__ import annotations

import json
from pathlib import Path

from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError

CONFIGS_METADATA = "diffusers_configs"  # written by our writer: component -> diffusers config
VERSION_METADATA = "model_version"      # "2.0.0", "2.3.0", "2.5.0" (also in Lightricks' files)
GEMMA_METADATA = "gemma_config"         # the 2.5 text-encoder file's Gemma config
SPIECE_MODEL = "spiece_model"           # ComfyUI's Gemma 3 file: its SentencePiece tokenizer (uint8)


def read_header(path: str | Path, what: str) -> tuple[set[str], dict[str, str]]:
    """(tensor keys, metadata) of a .safetensors file from its JSON header alone: no tensor is
    read and torch is not imported, so start-up checks and --check can look inside files."""
    header = _read_table(path, what)
    metadata = header.pop("__metadata__", None) or {}
    return set(header), {str(k): str(v) for k, v in metadata.items()}


def read_shapes(path: str | Path, what: str) -> dict[str, list[int]]:
    """Each tensor's shape, from the header alone (the memory plan sizes a local folder by it)."""
    header = _read_table(path, what)
    header.pop("__metadata__", None)
    return {key: list(entry.get("shape", [])) for key, entry in header.items() if isinstance(entry, dict)}


def _read_table(path: str | Path, what: str) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 2 <= size <= 100_000_000:
                raise ValueError(f"header length {size} is not plausible")
            header = json.loads(handle.read(size))
    except OSError as e:
        raise ModelFileError(f"{what}: {path} cannot be read ({e.strerror or e})") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{what}: {path} is not a readable .safetensors file ({e})") from e
    if not isinstance(header, dict):
        raise ModelFileError(f"{what}: {path} is not a readable .safetensors file (its header is not a table)")
    return header


"""An open safetensors weight file: its keys, its metadata and a one-line summary of what it holds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError

CONFIGS_METADATA = "diffusers_configs"  # written by our writer: component -> diffusers config
VERSION_METADATA = "model_version"      # "2.0.0", "2.3.0", "2.5.0" (also in Lightricks' files)
GEMMA_METADATA = "gemma_config"         # the 2.5 text-encoder file's Gemma config
SPIECE_MODEL = "spiece_model"           # ComfyUI's Gemma 3 file: its SentencePiece tokenizer (uint8)


def read_header(path: str | Path, what: str) -> tuple[set[str], dict[str, str]]:
    """(tensor keys, metadata) of a .safetensors file from its JSON header alone: no tensor is
    read and torch is not imported, so start-up checks and --check can look inside files."""
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
    metadata = header.pop("__metadata__", None) or {}
    return set(header), {str(k): str(v) for k, v in metadata.items()}


class WeightFile:
    """One .safetensors file kept open (memory-mapped, mapped.py) while components are read from it."""

    def __init__(self, role: str, path: str | Path, what: str):
        from extensions_built_in.diffusion_models.ltx2.weights.mapped import HeaderError, MappedSafetensors  # noqa: PLC0415 (start-up: run.py loads this module before torch, so a bad config fails fast)

        self.role, self.path = role, Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{what}: file {self.path} does not exist")
        try:
            self._file = MappedSafetensors(self.path)
        except HeaderError as e:
            raise ModelFileError(f"{what}: {self.path} is not a readable .safetensors file ({e})") from e
        except OSError as e:
            raise ModelFileError(f"{what}: {self.path} cannot be read ({e.strerror or e})") from e
        self.keys = self._file.keys
        self.metadata: dict[str, str] = self._file.metadata

    def close(self) -> None:
        self._file.close()

    def tensor(self, key: str):
        """A view on the mapped file (see mapped.py): copy it to where it rests, then `release`."""
        return self._file.tensor(key)

    def release(self, key: str) -> None:
        self._file.release(key)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._file.shape(key)

    def json_metadata(self, name: str) -> Any:
        raw = self.metadata.get(name)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise ModelFileError(f"{self.path}: metadata '{name}' is not valid JSON ({e})") from e

    def stored_version(self) -> str | None:
        """'2.0', '2.3', '2.5' from the file's model_version metadata, when it has one."""
        raw = self.metadata.get(VERSION_METADATA)
        if not raw:
            return None
        return ".".join(raw.split(".")[:2])

    def summary(self) -> str:
        """What the file holds, by key prefix: 'model.diffusion_model.* (230), vae.* (66)'."""
        groups: Counter[str] = Counter()
        for key in self.keys:
            parts = key.split(".")
            groups[".".join(parts[:2]) + ".*" if parts[0] == "model" and len(parts) > 2 else
                   (parts[0] + ".*" if len(parts) > 1 else key)] += 1
        shown = ", ".join(f"{g} ({n})" for g, n in groups.most_common(6))
        return shown or "no tensors"

"""An open safetensors weight file: its tensors through one memory map (mapped.py), its keys, its
metadata and a one-line summary of what it holds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError
from extensions_built_in.diffusion_models.ltx2.weights.file_index import VERSION_METADATA
from extensions_built_in.diffusion_models.ltx2.weights.mapped import HeaderError, MappedSafetensors


class WeightFile:
    """One .safetensors file kept open (memory-mapped, mapped.py) while components are read from it."""

    def __init__(self, role: str, path: str | Path, what: str):
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

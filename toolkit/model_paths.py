"""Where a model comes from: a local diffusers-format folder or a hub id.

Kept apart from the adapter so `--check` can test the path without importing diffusers.
"""

from __future__ import annotations

import re
from pathlib import Path

from toolkit.errors import UserInputError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_model_path(name_or_path: str) -> tuple[str, bool]:
    """Return (path_or_id, is_local). A path that does not exist and is not a hub id is an error."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "transformer").is_dir():
            raise UserInputError(
                f"model.name_or_path '{name_or_path}' is a folder but has no 'transformer' subfolder: "
                "point it at a diffusers-format LTX-2 folder (transformer/, vae/, audio_vae/, vocoder/, "
                "connectors/, text_encoder/, tokenizer/, scheduler/)"
            )
        return str(path), True
    looks_local = name_or_path.startswith(("/", ".", "~")) or "\\" in name_or_path
    if looks_local or not _HUB_ID.match(name_or_path):
        raise UserInputError(
            f"model.name_or_path '{name_or_path}' does not exist: give a local diffusers-format folder "
            "or a hub id such as Lightricks/LTX-2"
        )
    return name_or_path, False

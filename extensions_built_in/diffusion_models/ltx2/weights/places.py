"""Where each component of a model is looked for, written once: the loader
(ltx2/loading.py) finds it by these rules, and the checks before a run (source_checks.py,
folder_checks.py: `--validate`, `--check`, start-up) judge a model section by the same ones.
Torch-free.

Ai-toolkit's keys: `name_or_path` (a diffusers-format folder or hub id), `te_name_or_path` (the
text encoder and tokenizer: a diffusers folder or a Gemma folder itself), `extras_name_or_path`
(every component name_or_path lacks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

COMPONENTS = ("transformer", "connectors", "vae", "audio_vae", "vocoder", "text_encoder", "tokenizer", "scheduler")
TEXT_COMPONENTS = ("text_encoder", "tokenizer")
# The file that says a component folder is there (the first one its loader reads).
_MARKERS = {"tokenizer": "tokenizer_config.json", "scheduler": "scheduler_config.json"}


@dataclass
class ModelSources:
    """The model section's paths, as the user wrote them."""

    name_or_path: str
    te_name_or_path: str | None = None
    extras_name_or_path: str | None = None
    # model.model_kwargs weight-file paths that are set: dit_path, text_encoder_path, ...
    file_paths: dict[str, str] = field(default_factory=dict)


def marker(component: str) -> str:
    """The config file of a component folder."""
    return _MARKERS.get(component, "config.json")


def places(component: str, sources: ModelSources) -> list[tuple[str, str]]:
    """(config key, value) in the order a component is looked for."""
    if component == "transformer":
        order = [("name_or_path", sources.name_or_path)]
    elif component in TEXT_COMPONENTS:
        order = [("te_name_or_path", sources.te_name_or_path), ("name_or_path", sources.name_or_path),
                 ("extras_name_or_path", sources.extras_name_or_path)]
    else:
        order = [("name_or_path", sources.name_or_path), ("extras_name_or_path", sources.extras_name_or_path)]
    return [(key, value) for key, value in order if value]


def find_component(component: str, key: str, folder: Path) -> Path | None:
    """The folder holding `component` inside `folder` (given as model.`key`), or None."""
    sub = folder / component
    if (sub / marker(component)).is_file():
        return sub
    # te_name_or_path may be the Gemma folder itself (config.json + tokenizer files at its root).
    if key == "te_name_or_path" and (folder / marker(component)).is_file():
        return folder
    return None

"""The defaults users get, read from the one place that declares them: the config schema.

Each config key's default is declared once, on its pydantic field in toolkit/config_modules.py
(the values that differ per LTX-2 version come from the family table through
toolkit/configuration/model_defaults.py). The settings dataclasses that downstream modules take (the loss,
the network, the dataset encoder, the batch builder, the model adapter) read their field
defaults from here instead of repeating the numbers, so a settings object built without a
config (a test, a benchmark, a tool) trains with what a user who leaves the key out gets.
tests/test_settings_defaults.py holds every settings field with a default to that.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from typing import Any

from pydantic import BaseModel

from toolkit.config_modules import ProcessConfig


def config_default(key: str) -> Any:
    """The default of dotted ``key`` of one process section, as a config that leaves it out
    gets it for the default arch: ``"train.noise_offset"``, ``"network.network_kwargs.only_if_contains"``,
    ``"datasets.fps"`` (a list section's items), ``"trigger_word"``. KeyError for a key the schema lacks."""
    section: type[BaseModel] = ProcessConfig
    *path, name = key.split(".")
    for part in path:
        section = _section_type(section, part, key)
    info = section.model_fields.get(name)
    if info is None:
        raise KeyError(f"{key}: {section.__name__} has no field {name!r}")
    return info.get_default(call_default_factory=True)


def config_field(key: str, **kw: Any) -> Any:
    """A dataclass field whose default is ``config_default(key)`` (lists and dicts get a fresh
    copy per instance); ``kw`` goes to ``dataclasses.field`` (metadata)."""
    value = config_default(key)
    if isinstance(value, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(value), **kw)
    return dataclasses.field(default=value, **kw)


def _section_type(section: type[BaseModel], part: str, key: str) -> type[BaseModel]:
    info = section.model_fields.get(part)
    if info is None:
        raise KeyError(f"{key}: {section.__name__} has no section {part!r}")
    annotation = info.annotation
    if typing.get_origin(annotation) is list:  # datasets: the defaults of one item
        annotation = typing.get_args(annotation)[0]
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        raise KeyError(f"{key}: {section.__name__}.{part} is a value, not a section")
    return annotation

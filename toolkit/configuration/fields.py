"""Building blocks for the config schema: field helpers, normalisers and value rules.

Every rule raises ``ValueError`` whose text starts with the offending value in brackets
and states the rule ("(10) must be 8k+1 (1, 9, 17, 25, …)"); the loader prefixes the key
path, so the user reads ``config.process[0].datasets[0].num_frames (10) must be 8k+1 …``.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import AliasChoices, Field

from toolkit.configuration.model_defaults import model_default

# Marker put in the JSON schema of a field whose default comes from the model table.
MODEL_DEFAULT_MARK = "x-ltx2-default"

_DTYPE_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")


def show_value(value: Any, limit: int = 60) -> str:
    """Render a config value the way a user wrote it: 'text', 10, true, null, [512, 768]."""
    if isinstance(value, str):
        text = "'" + value + "'"
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field(default: Any = ..., *, description: str, aliases: Iterable[str] = (), **kw: Any) -> Any:
    """A pydantic Field with a one-line description; ``aliases`` are extra accepted key names.

    The first name of the field itself must be passed in ``kw['name']`` when aliases are
    given (pydantic's AliasChoices must list the canonical name too).
    """
    aliases = list(aliases)
    extra: dict[str, Any] = dict(kw.pop("json_schema_extra", None) or {})
    if aliases:
        name = kw.pop("name")
        kw["validation_alias"] = AliasChoices(name, *aliases)
        extra["aliases"] = aliases
    if isinstance(default, type):  # a section model: a fresh default instance each time
        return Field(default_factory=default, description=description,
                     json_schema_extra=extra or None, **kw)
    return Field(default, description=description, json_schema_extra=extra or None, **kw)


def model_field(key: str, *, description: str, **kw: Any) -> Any:
    """A field whose default is read from the model defaults table (``toolkit.configuration.model_defaults``)."""
    extra = dict(kw.pop("json_schema_extra", None) or {})
    extra[MODEL_DEFAULT_MARK] = True
    return field(model_default(key), description=description, json_schema_extra=extra, **kw)


def lower_str(value: Any) -> Any:
    """Case-insensitive choices: strip and lower-case strings, leave anything else as is."""
    return value.strip().lower() if isinstance(value, str) else value


def auto_is_unset(value: Any) -> Any:
    """`auto` (any case) for a key whose unset value means "chosen at start-up" -> None."""
    return None if isinstance(value, str) and value.strip().lower() == "auto" else value


def normalise_dtype(value: Any) -> Any:
    """bfloat16/float16/float32 (any case) -> bf16/fp16/fp32."""
    value = lower_str(value)
    return _DTYPE_ALIASES.get(value, value) if isinstance(value, str) else value


def check_frames(value: int) -> int:
    """Frame counts of LTX-2 are 8k+1 (the VAE packs 8 frames after the first)."""
    if value < 1 or (value - 1) % 8:
        below = max(1, value - ((value - 1) % 8))
        raise ValueError(
            f"({value}) must be 8k+1 (1, 9, 17, 25, …); nearest: {below} or {below + 8}"
        )
    return value


def check_sample_steps(value: Any) -> Any:
    """Before the `>= 2` bound, so the message says why (a plain bound would not)."""
    number = value.strip() if isinstance(value, str) else value  # a YAML "1" is the same mistake
    if isinstance(number, str) and number.lstrip("-").isdigit():
        number = int(number)
    if isinstance(number, int) and not isinstance(number, bool) and number < 2:
        raise ValueError(
            f"({value}) must be 2 or more: LTX-2's scheduler stretches every schedule to end at sigma "
            "0.1 (shift_terminal), which a one-step schedule (sigma 1.0 alone) cannot do, so its sigma "
            "becomes 0/0 and the sample comes out NaN; give 2 or more (the versions' defaults are 30-40)"
        )
    return value


def check_multiple_of_32(value: int) -> int:
    """Pixel sizes must be multiples of 32 (VAE downscale 32, patch size 1)."""
    if value < 32 or value % 32:
        low = max(32, value - value % 32)
        raise ValueError(f"({value}) must be a multiple of 32, at least 32 (e.g. {low} or {low + 32})")
    return value


def sanitize_name(name: str) -> str:
    """Make a run name safe as a file/folder name: letters, digits, _ - . only."""
    cleaned = _NAME_BAD_CHARS.sub("_", name.strip())
    return cleaned.strip(".")


def is_number_type(annotation: Any) -> bool:
    """int or float (or Optional of one): types where YAML's true/false is a typo, never a value."""
    if annotation in (int, float):
        return True
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Union or type(annotation).__name__ == "UnionType":
        rest = [a for a in args if a is not type(None)]
        return len(rest) == 1 and rest[0] in (int, float)
    return False


def refuse_bool_number(value: Any, annotation: Any) -> Any:
    """`lr: true` would pass as 1.0 (pydantic reads a bool as a number): refuse it."""
    if isinstance(value, bool) and is_number_type(annotation):
        raise ValueError(f"({show_value(value)}) must be a number, not true/false")
    return value

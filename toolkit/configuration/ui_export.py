"""Export the config schema in the flat shape the web UI's job form reads.

    python -m toolkit.configuration.ui_export > ui/src/generated/config_schema.json

The UI never hard-codes a default, a choice list or a help text: it reads them from this
file, which is generated from ``toolkit.configuration.loader.config_json_schema()`` (the pydantic
schema the CLI validates with) and ``toolkit.configuration.model_defaults`` (the LTX-2 defaults table).
``tests/test_ui_schema_export.py`` fails when the committed file is stale, so a setting
added to the trainer shows up in the form (under "More settings") as soon as the file is
regenerated.

Shape::

    {"generator": ..., "defaultArch": "ltx2",
     "modelDefaults": {"ltx2": {"network.linear": 32, ...}},
     "ignoredUpstreamKeys": {...},
     "sections": {"config.process[].train": {"description": ..., "fields": [
         {"key": "lr", "title": "Learning rate", "type": "number", "default": 7.5e-05, "description": ...,
          "exclusiveMinimum": 0, "maximum": 10, "modelDefault": true}, ...]}, ...}}

Section paths use ``[]`` for "every item of this list", so ``config.process[].datasets[]``
describes each dataset of each process. A field whose value is itself a section (or a
list of sections) is listed with ``"section": <path of that section>``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from toolkit.configuration.fields import MODEL_DEFAULT_MARK
from toolkit.configuration.loader import config_json_schema
from toolkit.configuration.model_defaults import DEFAULT_ARCH, MODEL_DEFAULTS
from toolkit.configuration.titles import title_of

GENERATOR = "python -m toolkit.configuration.ui_export > ui/src/generated/config_schema.json"

# JSON Schema keywords copied verbatim onto a field (bounds, choices, patterns).
_COPIED = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern",
           "minItems", "maxItems", "aliases")


def _ref_name(node: dict) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _non_null(prop: dict) -> tuple[dict, bool]:
    """(the non-null branch of ``anyOf: [X, null]``, whether null is allowed)."""
    options = prop.get("anyOf")
    if not options:
        return prop, False
    rest = [o for o in options if o.get("type") != "null"]
    if len(rest) != 1:
        raise ValueError(f"unsupported union in the config schema: {options}")
    return rest[0], len(rest) != len(options)


def _field(key: str, prop: dict, required: bool, path: str, defs: dict,
           sections: dict) -> dict:
    """One field entry; nested sections are walked into ``sections`` as a side effect."""
    body, nullable = _non_null(prop)
    out: dict[str, Any] = {"key": key}
    title = title_of(path, key)
    if title:  # tests/test_config_titles.py fails when one is missing
        out["title"] = title
    section = _ref_name(body)
    items = body.get("items") or {}
    here = f"{path}.{key}" if path else key
    if section:
        out["type"] = "object"
        out["section"] = _walk(section, here, defs, sections)
    elif body.get("type") == "array" and _ref_name(items):
        out["type"] = "array"
        out["section"] = _walk(_ref_name(items), here + "[]", defs, sections)
    elif "enum" in body or "const" in body:
        out["type"] = "string"
        out["enum"] = list(body.get("enum") or [body["const"]])
    else:
        out["type"] = body.get("type", "any")
        if out["type"] == "array":
            out["items"] = {k: v for k, v in items.items() if k != "title"}
    if nullable:
        out["nullable"] = True
    if required:
        out["required"] = True
    elif "default" in prop:
        out["default"] = prop["default"]
    for name in _COPIED:
        if name in body:
            out[name] = body[name]
        elif name in prop:
            out[name] = prop[name]
    if prop.get(MODEL_DEFAULT_MARK):
        out["modelDefault"] = True
    out["description"] = prop.get("description", "")
    return out


def _walk(def_name: str, path: str, defs: dict, sections: dict) -> str:
    """Add the section ``def_name`` (found at ``path``) and its sub-sections; return path."""
    model = defs[def_name]
    required = set(model.get("required", []))
    fields = [_field(key, prop, key in required, path, defs, sections)
              for key, prop in model.get("properties", {}).items()]
    sections[path] = {"title": def_name, "description": model.get("description", ""),
                      "fields": fields}
    return path


def ui_schema() -> dict:
    """The whole export as a dict (see the module docstring for its shape)."""
    schema = config_json_schema()
    defs = dict(schema.get("$defs", {}))
    defs["JobConfig"] = {k: v for k, v in schema.items() if k != "$defs"}
    sections: dict[str, dict] = {}
    _walk("JobConfig", "", defs, sections)
    return {
        "generator": GENERATOR,
        "defaultArch": DEFAULT_ARCH,
        "modelDefaults": MODEL_DEFAULTS,
        "ignoredUpstreamKeys": schema.get("x-ignored-upstream-keys", {}),
        "sections": dict(sorted(sections.items())),
    }


def render() -> str:
    """The exact text of the generated file (stable: a test compares it byte for byte)."""
    return json.dumps(ui_schema(), indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())

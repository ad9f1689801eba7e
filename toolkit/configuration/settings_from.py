"""Settings dataclasses built from config sections by field name.

The modules downstream of the run (the model adapter, the loss, the network, the dataset
encoder) each take a small settings dataclass and never see the config (SOP root cause #18).
Copying every value by hand meant a new option touched five places and a forgotten one kept
its dataclass default silently. Here a field takes the value of the config key with its own
name; only the fields whose value is computed or renamed are given by the caller, and a
field found nowhere is an error at start-up, not a silent default.
"""

from __future__ import annotations

from dataclasses import MISSING, fields


def settings_from(cls, *sections, keep_default: tuple[str, ...] = (), **given):
    """An instance of dataclass `cls`: each field from `given`, else from the first of
    `sections` (pydantic config sections) that declares a field of that name, else (only for
    names in `keep_default`) the dataclass default."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(given) - names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
    values = {}
    for f in fields(cls):
        if f.name in given:
            values[f.name] = given[f.name]
            continue
        section = next((s for s in sections if f.name in type(s).model_fields), None)
        if section is not None:
            values[f.name] = getattr(section, f.name)
        elif f.name in keep_default and (f.default is not MISSING or f.default_factory is not MISSING):
            continue
        else:
            where = ", ".join(type(s).__name__ for s in sections) or "no section"
            raise TypeError(f"{cls.__name__}.{f.name}: not given and not a field of {where}")
    return cls(**values)


def unmatched_fields(cls, section_types, given=(), keep_default=()) -> list[str]:
    """The fields of `cls` that `settings_from` could not fill from `section_types`
    (pydantic model classes): what the schema test checks stays empty."""
    known = set(given) | set(keep_default)
    for section in section_types:
        known |= set(section.model_fields)
    return [f.name for f in fields(cls) if f.name not in known]

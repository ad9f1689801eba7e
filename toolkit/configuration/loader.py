"""Load, substitute and validate configs; turn every problem into a readable message.

    load_config(path, name_override=None) -> LoadedConfig      # a file
    validate_config_data(data, source) -> LoadedConfig         # an in-memory dict (web UI)
    config_issues(data) -> [{"path": ..., "message": ...}]     # every problem, per field
    config_json_schema() -> dict                               # JSON Schema of JobConfig

Steps, in order: parse the file; substitute ``${ENV_VAR}`` in every string (a config run by
the web UI only the variables its server allows: toolkit/configuration/env_substitution.py); apply
``-n/--name``; replace the tag ``[name]`` in every string by ``config.name``; drop the
upstream ai-toolkit keys we deliberately ignore (one warning each); validate with the
pydantic schema. Problems become ``Issue``s (a dotted/indexed key path plus the rule)
and are raised together as ONE ``ConfigValidationError`` -- never a raw pydantic dump.
Nothing here prints: warnings are returned for the caller to show.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from toolkit.config_modules import JobConfig
from toolkit.configuration.env_substitution import allowed_variables, refusal
from toolkit.configuration.fields import sanitize_name, show_value
from toolkit.configuration.files import read_config_file
from toolkit.configuration.model_defaults import MODEL_DEFAULTS
from toolkit.configuration.notes import override_warnings
from toolkit.configuration.overlaps import overlap_warnings, sampling_warnings
from toolkit.configuration.upstream import IGNORED_UPSTREAM_KEYS
from toolkit.errors import ConfigError

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME_TAG = "[name]"

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    """One problem: ``path`` is ``config.process[0].train.lr``; ``text`` states the rule.

    ``text`` either continues the key ("(0) must be > 0", "is required: ...") or is a
    sentence of its own ("unknown key 'linaer' — did you mean 'linear'?").
    """

    path: str
    text: str

    @property
    def _continues_key(self) -> bool:
        return self.text.startswith(("(", "is ", "must "))

    def message(self) -> str:
        """The problem without the full path, for a form field: "lr (0) must be > 0"."""
        if self._continues_key and self.path:
            return f"{self.path.rsplit('.', 1)[-1]} {self.text}"
        return self.text

    def line(self) -> str:
        """The problem with its full key path, for the CLI."""
        if not self.path:
            return self.text
        return f"{self.path} {self.text}" if self._continues_key else f"{self.path}: {self.text}"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message()}


class ConfigValidationError(ConfigError):
    """A config that does not validate; ``issues`` holds every problem found."""

    def __init__(self, source: str, issues: list[Issue], warnings: list[str] | None = None):
        self.source = source
        self.issues = list(issues)
        self.warnings = list(warnings or [])
        if len(self.issues) == 1:
            text = f"{source}: {self.issues[0].line()}"
        else:
            lines = "\n".join(f"  - {i.line()}" for i in self.issues)
            text = f"{source}: {len(self.issues)} problems:\n{lines}"
        super().__init__(text)


@dataclass
class LoadedConfig:
    """A validated config: the model, where it came from, the substituted dict, warnings."""

    job: JobConfig
    path: Path
    raw: dict
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.job.config.name


def format_loc(loc: Loc) -> str:
    """('config', 'process', 0, 'lr') -> 'config.process[0].lr'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---------------------------------------------------------------- walking the schema

def _unwrap(tp: Any) -> Any:
    """Strip Optional[...] and Annotated[...] from a type annotation."""
    while True:
        args = get_args(tp)
        if get_origin(tp) is Union:
            tp = next(a for a in args if a is not type(None))
        elif hasattr(tp, "__metadata__"):
            tp = args[0]
        else:
            return tp


def _field_for_key(model: type[BaseModel], key: Any) -> tuple[str, Any] | None:
    """(field name, FieldInfo) of ``key`` in ``model``, accepting aliases."""
    for name, info in model.model_fields.items():
        choices = getattr(info.validation_alias, "choices", None) or []
        if key == name or key in choices:
            return name, info
    return None


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _type_at(loc: Loc) -> Any:
    """The annotation (model class, list[...], ...) at ``loc`` in JobConfig, or None."""
    tp: Any = JobConfig
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(part, int):
            tp = get_args(tp)[0] if get_origin(tp) is list else None
        elif _is_model(tp):
            found = _field_for_key(tp, part)
            tp = found[1].annotation if found else None
        else:
            return None
        if tp is None:
            return None
    return _unwrap(tp)


def _known_keys(model: type[BaseModel]) -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        keys.append(name)
        keys.extend(getattr(info.validation_alias, "choices", None) or [])
    return keys


def _drop_ignored(data: Any, tp: Any, loc: Loc, found: dict[str, str]) -> None:
    """Remove accepted upstream keys in place; one warning per generic key path whose value
    is not neutral (toolkit.configuration.upstream)."""
    tp = _unwrap(tp)
    if isinstance(data, list) and get_origin(tp) is list:
        for i, item in enumerate(data):
            _drop_ignored(item, get_args(tp)[0], loc + (i,), found)
        return
    if not (_is_model(tp) and isinstance(data, dict)):
        return
    ignored = tp.ignored_upstream_keys
    section = dict(data)  # neutral-value rules may look at sibling keys (network.type)
    for key in list(data):
        if key in ignored and _field_for_key(tp, key) is None:
            value = data.pop(key)
            if ignored[key].neutral(value, section):
                continue  # the feature is off: nothing to say (a stock UI file stays quiet)
            generic = re.sub(r"\[\d+\]", "[]", format_loc(loc + (key,)))
            found.setdefault(generic, f"{format_loc(loc + (key,))}: ai-toolkit key without effect "
                                      f"here ({ignored[key].why})")
        else:
            info = _field_for_key(tp, key)
            if info is not None:
                _drop_ignored(data[key], info[1].annotation, loc + (key,), found)


# ---------------------------------------------------------------- pydantic errors -> Issues

def _lcfirst(text: str) -> str:
    return text[:1].lower() + text[1:]


def _unknown_key_text(loc: Loc) -> str:
    key = loc[-1]
    parent = _type_at(loc[:-1])
    # Accepted ai-toolkit keys count as known: a typo of one is still a typo.
    candidates = _known_keys(parent) + list(parent.ignored_upstream_keys) if _is_model(parent) else []
    close = difflib.get_close_matches(str(key), candidates, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}' — did you mean '{close[0]}'?"
    section = format_loc(loc[:-1]) or "the top level"
    return f"unknown key '{key}' — not a key of {section} (see docs/config.md)"


def _required_text(loc: Loc) -> str:
    parent = _type_at(loc[:-1])
    found = _field_for_key(parent, loc[-1]) if _is_model(parent) else None
    if found and found[1].description:
        return "is required: " + _lcfirst(found[1].description)
    return "is required"


_TYPE_RULES = {
    "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number", "float_type": "must be a number",
    "float_parsing": "must be a number", "bool_type": "must be true or false",
    "bool_parsing": "must be true or false", "string_type": "must be text (a string)",
    "list_type": "must be a list", "dict_type": "must be a section (key: value mapping)",
    "model_type": "must be a section (key: value mapping)",
    "model_attributes_type": "must be a section (key: value mapping)",
    "finite_number": "must be a finite number",
}
_BOUND_RULES = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="),
                "less_than": ("lt", "<"), "less_than_equal": ("le", "<=")}


def _error_text(err: dict, loc: Loc) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    value = show_value(err.get("input"))
    if kind == "missing":
        return _required_text(loc)
    if kind == "extra_forbidden":
        return _unknown_key_text(loc)
    if kind == "literal_error":
        return f"({value}) must be one of {ctx.get('expected')}"
    if kind in _BOUND_RULES:
        key, sign = _BOUND_RULES[kind]
        bound = ctx.get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"({value}) must be {sign} {bound}"
    if kind in _TYPE_RULES:
        return f"({value}) {_TYPE_RULES[kind]}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} item(s)"
    if kind == "string_pattern_mismatch":
        parent = _type_at(loc[:-1])
        found = _field_for_key(parent, loc[-1]) if _is_model(parent) else None
        rule = _lcfirst(found[1].description) if found and found[1].description else "valid"
        return f"({value}) must be {rule}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return f"({value}) {_lcfirst(err.get('msg', 'is not valid'))}"


def _lookup(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _issues_from(error: ValidationError, data: Any) -> list[Issue]:
    issues = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        shown = loc
        # A scalar the schema turned into a list (resolution: 500): report it as written.
        if loc and isinstance(loc[-1], int) and not isinstance(_lookup(data, loc[:-1]), list):
            shown = loc[:-1]
        issue = Issue(format_loc(shown), _error_text(err, loc))
        if issue not in issues:
            issues.append(issue)
    return issues


# ---------------------------------------------------------------- substitution

def _map_strings(data: Any, fn, loc: Loc = ()) -> Any:
    """A copy of ``data`` with ``fn(text, loc)`` applied to every string value."""
    if isinstance(data, dict):
        return {k: _map_strings(v, fn, loc + (k,)) for k, v in data.items()}
    if isinstance(data, list):
        return [_map_strings(v, fn, loc + (i,)) for i, v in enumerate(data)]
    if isinstance(data, str):
        return fn(data, loc)
    return data


def _substitute_env(data: Any, environ: dict[str, str], issues: list[Issue]) -> Any:
    allowed = allowed_variables(environ)

    def replace(text: str, loc: Loc) -> str:
        def one(match: re.Match) -> str:
            var = match.group(1)
            refused = refusal(var, allowed)
            if refused:  # never substituted, so its value cannot reach any message
                issues.append(Issue(format_loc(loc), refused))
                return match.group(0)
            if var not in environ:
                issues.append(Issue(format_loc(loc), f"uses ${{{var}}} but the environment "
                                                     f"variable {var} is not set"))
                return match.group(0)
            return environ[var]
        return _ENV_PATTERN.sub(one, text)
    return _map_strings(data, replace)


def _apply_name(data: dict, name_override: str | None, issues: list[Issue],
                warnings: list[str]) -> dict:
    """Set ``config.name`` (from -n), then replace ``[name]`` in every string by it."""
    config = data.get("config")
    if not isinstance(config, dict):
        return data
    if name_override is not None:
        config["name"] = name_override
    name = config.get("name")
    if isinstance(name, (int, float)) and not isinstance(name, bool):
        name = config["name"] = str(name)  # `name: 2024` in YAML is a number
    if not isinstance(name, str):
        return data
    if _NAME_TAG in name:
        issues.append(Issue("config.name", f"({show_value(name)}) is a placeholder: "
                                           "pass -n/--name NAME or write a real name"))
        return data
    parts = re.split(r"[/\\]", name.strip())
    if ".." in parts or name.strip().startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[/\\]", name.strip()):
        # A name that climbs out of training_folder is refused, not rewritten into a folder name
        # nobody chose ('../../x' would become '_.._x'); a '/' inside a name ('alice/v1') is
        # replaced with a warning, as other characters are.
        issues.append(Issue("config.name", f"({show_value(name)}) points outside training_folder: the name is "
                                           "one folder inside it (and the LoRA's file name). Give a plain name "
                                           "(letters, digits, _ - .), and set training_folder to choose where "
                                           "runs are written"))
        return data
    clean = sanitize_name(name)
    if clean and clean != name:
        warnings.append(f"config.name {show_value(name)} has characters not allowed in file "
                        f"names; using {show_value(clean)}")
    return _map_strings(data, lambda text, _loc: text.replace(_NAME_TAG, clean))


# ---------------------------------------------------------------- entry points

def _check(data: Any, name_override: str | None, environ: dict[str, str] | None = None
           ) -> tuple[JobConfig | None, Any, list[Issue], list[str]]:
    """Run every step; return (job or None, substituted raw dict, issues, warnings)."""
    issues: list[Issue] = []
    warnings: list[str] = []
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        issues.append(Issue("", f"the config is {kind}: it must be a mapping with 'job: "
                                "extension' and a 'config' section"))
        return None, data, issues, warnings
    raw = _substitute_env(data, dict(os.environ if environ is None else environ), issues)
    raw = _apply_name(raw, name_override, issues, warnings)
    if issues:
        return None, raw, issues, warnings
    stripped = copy.deepcopy(raw)
    ignored: dict[str, str] = {}
    _drop_ignored(stripped, JobConfig, (), ignored)
    warnings.extend(ignored.values())
    try:
        job = JobConfig.model_validate(stripped)
    except ValidationError as e:
        return None, raw, _issues_from(e, stripped), warnings
    warnings.extend(override_warnings(job) + overlap_warnings(job) + sampling_warnings(job))
    return job, raw, issues, warnings


def validate_config_data(data: Any, source: str = "<config>",
                         name_override: str | None = None) -> LoadedConfig:
    """Validate an in-memory config dict; raise ConfigValidationError with every problem."""
    job, raw, issues, warnings = _check(data, name_override)
    if issues or job is None:
        raise ConfigValidationError(source, issues, warnings)
    return LoadedConfig(job=job, path=Path(source), raw=raw, warnings=warnings)


def config_issues(data: Any, name_override: str | None = None) -> list[dict[str, str]]:
    """Every problem of ``data`` as ``{"path", "message"}`` dicts (empty when valid)."""
    return [i.as_dict() for i in _check(data, name_override)[2]]


def load_config(path: str | Path, name_override: str | None = None) -> LoadedConfig:
    """Read, substitute and validate one config file."""
    path = Path(path)
    return validate_config_data(read_config_file(path), str(path), name_override)


def config_json_schema() -> dict:
    """JSON Schema of JobConfig (aliases listed under "aliases"; defaults included).

    Also carries the model defaults table and the ignored upstream keys, so the web UI
    can build its form from this one export.
    """
    schema = JobConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["x-model-defaults"] = copy.deepcopy(MODEL_DEFAULTS)
    schema["x-ignored-upstream-keys"] = copy.deepcopy(IGNORED_UPSTREAM_KEYS)
    return schema

"""Reading config files: YAML (.yaml/.yml), JSON (.json) and JSON with comments (.jsonc).

Every failure is a ``ConfigError`` that names the file and, for syntax errors, the line
and column. Duplicate keys are errors too (YAML and JSON silently keep the last one,
which hides a typo'd copy of a section).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from toolkit.errors import ConfigError

CONFIG_SUFFIXES = (".yaml", ".yml", ".json", ".jsonc")


class _StrictYamlLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys in a mapping."""


def _construct_mapping_no_duplicates(loader: _StrictYamlLoader, node: yaml.MappingNode,
                                     deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # unhashable key: the base constructor reports it properly
            continue
        if first is not None:
            raise ConstructorError(None, None, f"duplicate key '{key}' (first given on line {first})",
                                   key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return SafeConstructor.construct_mapping(loader, node, deep=deep)


_StrictYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                  _construct_mapping_no_duplicates)

# YAML 1.1 (PyYAML) reads `1e-4` and `5E-5` as strings: its float needs a dot and a signed
# exponent. ai-toolkit's loader reads them as numbers, and users write `lr: 1e-4` and
# `weight_decay: 1e-4` everywhere, free-form sections included, so they are numbers here
# too. Resolved at parse time, the rule reaches every position of the file.
_FLOAT_WITH_EXPONENT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
_StrictYamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_WITH_EXPONENT,
                                        list("-+0123456789."))


def strip_json_comments(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments outside strings, and trailing commas.

    Comments become spaces (newlines kept) so JSON error line numbers still match the file.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = _copy_string(text, i, out)
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
            continue
        else:
            out.append(c)
        i += 1
    return _strip_trailing_commas("".join(out))


def _strip_trailing_commas(text: str) -> str:
    """Drop a comma that is followed (after whitespace) by ``}`` or ``]``, outside strings."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = _copy_string(text, i, out)
            continue
        if c == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            out.append(" " if j < n and text[j] in "}]" else c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _copy_string(text: str, i: int, out: list[str]) -> int:
    """Copy the JSON string that opens at ``text[i]`` (escapes included) to ``out``; the index
    after its closing quote (the end of the text when it never closes)."""
    j, n = i + 1, len(text)
    while j < n and text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    end = min(j + 1, n)
    out.append(text[i:end])
    return end


def _json_object_no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key '{key}'")
        result[key] = value
    return result


def parse_config_text(text: str, suffix: str, source: str) -> Any:
    """Parse config ``text`` by file ``suffix``; ConfigError names ``source`` and the line."""
    if suffix in (".yaml", ".yml"):
        try:
            return yaml.load(text, Loader=_StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            problem = e.problem or e.context or "syntax error"
            raise ConfigError(f"{source}{where}: invalid YAML: {problem}") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{source}: invalid YAML: {e}") from e
    if suffix == ".jsonc":
        text = strip_json_comments(text)
    try:
        return json.loads(text, object_pairs_hook=_json_object_no_duplicates)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{source}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
    except ValueError as e:  # duplicate key from the hook
        raise ConfigError(f"{source}: invalid JSON: {e}") from e


def read_config_file(path: Path) -> Any:
    """Read and parse one config file (no validation)."""
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a config file")
    suffix = path.suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise ConfigError(
            f"{path}: unsupported config file type '{suffix}': use .yaml, .yml, .json or .jsonc")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the file: {e.strerror or e}") from e
    return parse_config_text(text, suffix, str(path))

"""What a preparation keeps between runs, in ``OUT/.prepare/`` (a hidden folder, so a
training run never reads it as data):

- ``analysis/<key>.json``: one per source file: its shots, speech spans, windows and their
  voices. The key is a hash of the file's path, size and modification time and of the
  settings that shape the analysis, so a changed file or setting is analysed again and an
  unchanged one never is.
- ``transcripts.json``: the transcript of each window, per speech engine.
- ``decisions.json``: the user's keep / drop per window (the UI's table, or
  ``python -m toolkit.prepare.decide``), which outrank the automatic verdicts.

Every file is written atomically (toolkit/atomic.py): a killed run leaves the last complete
version, and the next run goes on from there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from toolkit.atomic import atomic_write_text

STATE_DIR = ".prepare"
ANALYSIS_VERSION = 1


def state_dir(out: Path) -> Path:
    return Path(out) / STATE_DIR


def source_key(path: Path, settings: dict) -> str:
    stat = path.stat()
    ident = json.dumps({"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                        "settings": settings, "version": ANALYSIS_VERSION}, sort_keys=True)
    return hashlib.sha256(ident.encode()).hexdigest()[:20]


def read_json(path: Path, default):
    """The JSON in ``path``, or ``default`` when it is missing or unreadable (a cache)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, ValueError):
        return default


def write_json_if_changed(path: Path, data) -> bool:
    """Write ``data`` unless the file already holds exactly it (a second run writes nothing)."""
    text = json.dumps(data, indent=1, sort_keys=True)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text)
    return True


def load_analysis(out: Path, key: str) -> dict | None:
    found = read_json(state_dir(out) / "analysis" / f"{key}.json", None)
    return found if isinstance(found, dict) and found.get("version") == ANALYSIS_VERSION else None


def save_analysis(out: Path, key: str, analysis: dict) -> None:
    write_json_if_changed(state_dir(out) / "analysis" / f"{key}.json", analysis)


def load_decisions(out: Path) -> dict[str, str]:
    found = read_json(state_dir(out) / "decisions.json", {})
    return {k: v for k, v in found.items() if v in ("keep", "drop")} if isinstance(found, dict) else {}


def save_decisions(out: Path, decisions: dict[str, str]) -> None:
    write_json_if_changed(state_dir(out) / "decisions.json", decisions)


def write_manifest(path: Path, rows: list[dict]) -> bool:
    """prepare.jsonl: one JSON object per line, written only when it changed."""
    text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write_text(path, text)
    return True


def read_manifest(path: Path) -> list[dict]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return rows
    for line in lines:
        if line.strip():
            rows.append(json.loads(line))
    return rows

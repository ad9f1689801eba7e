"""Opening a run's output folder: --restart, the lock, and never overwriting another
trainer's LoRA.

Runs before anything is written into the folder (log, config copy, status), so a refused
start leaves the folder exactly as it was.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from safetensors import SafetensorError, safe_open

from toolkit.atomic import write_error
from toolkit.errors import UserInputError
from toolkit.run.checkpoint import STATE_SUFFIX
from toolkit.run.lock import RunLock

OUR_METADATA_PREFIX = "ltx2_trainer."


def aside_path(folder: Path) -> Path:
    """Where --restart moves an old run: `<name>.old-<date>-<time>` beside it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = folder.with_name(f"{folder.name}.old-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = folder.with_name(f"{folder.name}.old-{stamp}-{n}")
    return candidate


def move_run_aside(folder: Path) -> Path | None:
    """--restart: the whole output folder goes to `aside_path` (nothing is deleted)."""
    if not folder.exists() or not any(folder.iterdir()):
        return None
    RunLock(folder).refuse_if_held()
    target = aside_path(folder)
    try:
        os.rename(folder, target)
    except OSError as exc:
        raise write_error(folder, exc) from exc
    return target


def _our_lora(path: Path) -> bool:
    """True when the file was written by this trainer (it carries our metadata); a file that
    cannot be read is left to the resume checks (toolkit/run/checkpoint.py)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (OSError, SafetensorError):  # unreadable: not evidence of a foreign run
        return True
    return any(key.startswith(OUR_METADATA_PREFIX) for key in metadata)


def foreign_loras(folder: Path, name: str) -> list[Path]:
    """LoRA files this run would overwrite that another trainer wrote (no state of ours)."""
    if not folder.is_dir():
        return []
    ours = re.compile(rf"^{re.escape(name)}(_\d{{9}})?\.safetensors$")
    found = []
    for path in sorted(folder.glob("*.safetensors")):
        if not ours.match(path.name):
            continue
        state = path.with_name(path.name.removesuffix(".safetensors") + STATE_SUFFIX)
        if not state.exists() and not _our_lora(path):
            found.append(path)
    return found


def open_run_folder(folder: Path, name: str, restart: bool = False) -> tuple[RunLock, list[str]]:
    """Lock the folder for this run; returns the lock and notes for the run's log."""
    folder = Path(folder)
    notes = []
    if restart:
        moved = move_run_aside(folder)
        if moved is not None:
            notes.append(f"--restart: the previous run in {folder} was moved to {moved}")
    lock = RunLock(folder).acquire()
    if lock.note:
        notes.append(lock.note)
    foreign = foreign_loras(folder, name)
    if foreign:
        lock.release()
        raise UserInputError(
            f"{folder} holds {', '.join(p.name for p in foreign)}, written by another trainer (no training state "
            f"of ours beside it), which this run would overwrite: give this run another `name` (or -n NAME), "
            f"move the file(s) away, or run with --restart to move the whole folder aside")
    return lock, notes

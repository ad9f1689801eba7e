"""A stale build lock of optimum-quanto's C++ extension, found before a run waits on it forever.

quanto compiles its CPU kernels (`quanto_cpp`) with torch's JIT extension builder the first
time a quantized weight is unpacked, inside its own package folder. The builder holds a
`lock` file in the build folder while it compiles, and every other process polls until that
file is gone, with no time limit. A build killed half-way (Ctrl-C, an out-of-memory kill, a
closed terminal) leaves the file behind: every later run on that installation then hangs,
silently, at its first quantized step. Seen on this project's own machines.

A build takes about a minute, so a lock older than `STALE_AFTER_S` is an interrupted one.
A fresher lock is another process building right now: the run waits for it, and says so.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from toolkit.errors import UserInputError

log = logging.getLogger(__name__)

STALE_AFTER_S = 15 * 60


def quanto_build_dirs() -> list[Path]:
    """The build folders of quanto's registered extensions (the CPU one is the one run here)."""
    from optimum.quanto.library.extensions import extension  # noqa: PLC0415 (heavy, loaded only when a quanto type is chosen)

    return [Path(ext.build_directory) for ext in extension._extensions.values()]


def check_build_locks(build_dirs: list[Path] | None = None, *, now: float | None = None) -> None:
    """Refuse to start on an interrupted build's lock (names the file to delete); log a fresh one."""
    now = time.time() if now is None else now
    for folder in quanto_build_dirs() if build_dirs is None else build_dirs:
        lock = folder / "lock"
        try:
            age = now - lock.stat().st_mtime
        except FileNotFoundError:
            continue
        if age > STALE_AFTER_S:
            raise UserInputError(
                f"{lock}: optimum-quanto's kernel build was interrupted {age / 60:.0f} minutes ago and left "
                f"this lock file; with it every run waits forever for a build that is not running. "
                f"Delete the file (no trainer is building it now) and start again: the build runs once, "
                f"about a minute.")
        log.warning("%s: another process is building optimum-quanto's kernels (%.0f s ago); waiting for it",
                    lock, age)

"""optimum-quanto's compiled kernels: the CPU one replaced by torch operations, and a stale
build lock found before a run waits on it forever.

On the CPU quanto's only compiled kernel unpacks 2- and 4-bit weights. The same unpacking in
torch operations (`unpack`) gives the same bytes in the same time (4096x8192 packed bytes on the
2-core AMD EPYC dev VM: 4 bits 0.06 s vs the kernel's 0.08 s, 2 bits 0.13 s vs 0.12 s), and
needs no compiler: `use_torch_unpack_on_cpu` registers it before the first quanto weight is
made, so a CPU run never builds the extension (about 90 s of a core) and never meets its lock.

On CUDA quanto compiles its GPU kernels the same way: quanto compiles its CPU kernels (`quanto_cpp`) with torch's JIT extension builder the first
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
import warnings
from pathlib import Path

import torch

from toolkit.errors import UserInputError

log = logging.getLogger(__name__)

STALE_AFTER_S = 15 * 60
_CPU_UNPACK = []  # the torch.library registration (kept alive: dropping it would undo it)


def unpack(packed, bits: int):
    """quanto's packed layout undone: value i of each byte sits at bit `bits * i`, and the
    values come out stacked along the first dimension (as quanto's packer stacked them)."""
    mask = (1 << bits) - 1
    return torch.cat([(packed >> (bits * i)) & mask for i in range(8 // bits)]).to(torch.uint8)


def use_torch_unpack_on_cpu() -> None:
    """Unpack quanto's 2- and 4-bit weights on the CPU with `unpack` (see the module doc)."""
    if _CPU_UNPACK:
        return
    import optimum.quanto  # noqa: F401, PLC0415 (defines the quanto::unpack operator)

    library = torch.library.Library("quanto", "IMPL")
    with warnings.catch_warnings():  # replacing quanto's own CPU registration is the point
        warnings.filterwarnings("ignore", message="(?s).*Overriding a previously registered kernel")
        library.impl("unpack", unpack, "CPU")
    _CPU_UNPACK.append(library)


def quanto_build_dirs() -> list[Path]:
    """The build folders of quanto's extensions that a run may still build."""
    from optimum.quanto.library.extensions import extension  # noqa: PLC0415 (heavy, loaded only when a quanto type is chosen)

    # the CPU extension is never built once torch unpacks on the CPU (use_torch_unpack_on_cpu)
    return [Path(ext.build_directory) for name, ext in extension._extensions.items()
            if not (name == "quanto_cpp" and _CPU_UNPACK)]


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

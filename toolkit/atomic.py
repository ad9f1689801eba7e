"""The one atomic file writer: temp file in the destination folder, fsync, rename.

Every file the trainer writes (LoRA files, training state, latent caches, status.json and
the config copy, sample videos, the tiny model) goes through here, so a kill at any moment
leaves either the old file or the new one, never half of one, and every failed write is
reported the same way: one `WriteFailed` naming the path and the reason, classed by what
the user has to do (`WriteRefused`, exit 2: pick a writable place; `DiskFull`, exit 1: free
space and resume). Temp files are named `.<file>.<random>.tmp`, which is what
`remove_temp_files` cleans up after a killed run.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch
from safetensors.torch import save

from toolkit.errors import DiskFull, WriteFailed, WriteRefused

TEMP_GLOB = ".*.tmp"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes 0600 files; a LoRA or a sample is meant to be read by other users and tools
# (ComfyUI, the web UI), so published files get the usual 0666 minus the umask.
_FILE_MODE = 0o666 & ~_read_umask()

# The user fixes these by writing somewhere else or fixing permissions.
_REFUSED = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
            errno.ENAMETOOLONG, errno.ENOENT}
# The run ran out of room: free space (or raise the file-size limit) and resume.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def write_error(path: Path, exc: OSError) -> WriteFailed:
    """The WriteFailed for an OSError met while writing `path`."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename and str(exc.filename) != str(path) and not str(exc.filename).endswith(".tmp"):
        reason = f"{reason} ({exc.filename})"
    if exc.errno in _REFUSED:
        return WriteRefused(path, reason, "the place is read-only or not writable by this user: "
                                          "choose a writable folder or fix its permissions")
    if exc.errno in _NO_SPACE:
        return DiskFull(path, reason, "free some space and run the same command again to resume")
    return WriteFailed(path, reason)


class _RecordingFile:
    """A binary file that remembers the OSError of a failed write. Writers in C++ (torch.save)
    turn that error into a RuntimeError without its errno; this keeps the real reason."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable. Some systems (Windows) cannot open a folder: skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # folders that refuse fsync (some network file systems): the rename is done anyway
        pass
    finally:
        os.close(fd)


def _reserve_temp(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _FILE_MODE)
    except OSError:  # file systems without modes (some network mounts): the default stays
        pass
    finally:
        os.close(fd)
    return Path(tmp)


# Windows refuses to replace a file that another process holds open without delete sharing
# (a Python reader of status.json, an antivirus or indexer scanning a new LoRA): access denied
# for a moment. That is not a read-only place, so the rename is retried for a while before
# it counts as one. POSIX renames over open files, so this never triggers there.
_ON_WINDOWS = os.name == "nt"
_WINDOWS_RETRY_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


def _replace(tmp: Path, path: Path) -> None:
    for wait in _WINDOWS_RETRY_S if _ON_WINDOWS else ():
        try:
            os.replace(tmp, path)
            return
        except PermissionError:
            time.sleep(wait)
    os.replace(tmp, path)


def _replace_with(path: Path | str, fill: Callable[[Path], None]) -> Path:
    """The one commit sequence: `fill(tmp)` writes and fsyncs a temp file beside `path`, which
    is then renamed over `path` (and the folder fsynced). Any OSError becomes a WriteFailed
    naming `path`; the temp file is removed and an existing `path` stays as it was."""
    path = Path(path)
    tmp = _reserve_temp(path)
    try:
        fill(tmp)
        _replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise write_error(path, exc) from exc
    finally:
        _remove_quietly(tmp)
    return path


def atomic_write(path: Path | str, write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(handle)` on a temp file beside `path`, fsync it, rename it over `path`.
    An OSError a C++ writer hid in its own exception is recovered from the handle."""

    def fill(tmp: Path) -> None:
        with open(tmp, "wb") as raw:
            handle = _RecordingFile(raw)
            try:
                write(handle)
            except Exception as exc:
                if handle.error is not None and exc is not handle.error:
                    raise handle.error from exc
                stop = _stop_behind(exc)
                if stop is not None:  # a stop, not a failed write: the run exits 130/143
                    raise stop from None
                raise
            raw.flush()
            os.fsync(raw.fileno())

    return _replace_with(path, fill)


def _stop_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The stop (Ctrl-C, SIGTERM: run_signals.Interrupted) that a C++ writer turned into its
    own error. Python runs a signal handler in the next Python code, which during torch.save
    is our write() callback; torch then reports the handler's exception as a RuntimeError
    ("enforce fail ... unexpected pos") whose context is the stop."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def atomic_write_path(path: Path | str, write: Callable[[Path], None]) -> Path:
    """Like atomic_write, for writers that need a file name (an mp4 muxer): `write(tmp)`."""

    def fill(tmp: Path) -> None:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())

    return _replace_with(path, fill)


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_tensors(path: Path | str, tensors: dict, metadata: dict | None = None) -> Path:
    """A safetensors file. Serialised in memory first, so an I/O failure is a Python OSError
    with its errno rather than the Rust writer's message."""
    return atomic_write_bytes(path, _sorted_metadata(save(tensors, metadata=metadata)))


def _sorted_metadata(data: bytes) -> bytes:
    """safetensors writes `__metadata__` in the order of a Rust hash map, seeded anew for every
    file: the same tensors and metadata gave different bytes from run to run, so a file's
    checksum did not say whether two runs trained the same weights. Sorted, the header has
    the same length (the same keys and values, written the same compact way), so the tensor
    offsets hold; anything unexpected leaves the bytes as they are."""
    size = int.from_bytes(data[:8], "little")
    written = data[8:8 + size].rstrip(b" ")  # padded with spaces to 8-byte alignment
    header = json.loads(written)
    metadata = header.get("__metadata__")
    if not metadata:
        return data
    header["__metadata__"] = dict(sorted(metadata.items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(text) != len(written):  # written another way than assumed: keep the writer's bytes
        return data
    return data[:8] + text.ljust(size, b" ") + data[8 + size:]


def atomic_torch_save(path: Path | str, obj: Any) -> Path:
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_write_dir(out: Path | str, fill: Callable[[Path], None]) -> Path:
    """A whole folder: `fill(tmp_folder)`, then the folder replaces `out` (removed first, so
    a reader sees the old folder, no folder, or the new one; never a mix)."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise write_error(out, exc) from exc
    try:
        fill(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    except OSError as exc:
        raise write_error(out, exc) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def remove_temp_files(folder: Path | str, min_age_s: float = 0.0) -> list[Path]:
    """Temp files and folders of atomic writes that a killed process left in `folder`.
    `min_age_s`: only those older than that, for folders another live run may be writing
    into (a dataset's latent cache), where a young temp file is someone's write in flight."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    now = time.time()
    for path in folder.glob(TEMP_GLOB):
        try:
            if min_age_s and now - path.stat().st_mtime < min_age_s:
                continue
        except FileNotFoundError:  # its writer just renamed or removed it
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _remove_quietly(tmp: Path) -> None:
    """Best effort: on a read-only or vanished folder the temp file may not be removable,
    and the write's own error is the one to report."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass

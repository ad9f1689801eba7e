"""What a path that cannot be read as a file is, in the words a message should use.

"file not found" for a symbolic link that loops, or "no caption file" for a caption path
that is a folder, sends a user looking for the wrong thing; :func:`not_a_file` names what
the path really is (and where a link points).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def not_a_file(path: str | os.PathLike) -> str | None:
    """None when ``path`` is a regular file (after following links); otherwise what it is:
    "file not found", "is a folder, not a file", "is a symbolic link that loops (...)",
    "is a symbolic link to X, which does not exist", "is a named pipe (FIFO), not a
    regular file", ... Never opens the path (a FIFO would block a reader)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return _unreachable(path, exc)
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    return "is not a regular file"


def _unreachable(path: Path, exc: OSError) -> str:
    link = _link_target(path)
    if exc.errno == errno.ELOOP:
        chain = f" ({path.name} -> {link} -> ...)" if link else ""
        return f"is a symbolic link that loops{chain}: point it at a real file or remove it"
    if link is not None and exc.errno == errno.ENOENT:
        return f"is a symbolic link to {link}, which does not exist: point it at a real file or remove it"
    if exc.errno == errno.ENOENT:
        return "file not found; check the path"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot be read: permission denied ({exc.strerror})"
    return f"cannot be read ({exc.strerror or exc})"


def _link_target(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None  # not a link (or gone)

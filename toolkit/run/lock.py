"""One run per output folder: `run.lock` holds the owner's PID and host.

A second run on the same folder stops (exit 2) naming the PID. A lock whose process is gone
(killed with -9, machine rebooted) is taken over with a note, so a crash never needs a
manual clean-up. A lock from another machine cannot be checked from here: it is refused,
and the message says which file to delete if that run is known to be over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import psutil

from toolkit.atomic import write_error
from toolkit.errors import UserInputError

LOCK_NAME = "run.lock"


def _pid_alive(pid: int) -> bool:
    """psutil, not os.kill(pid, 0): on Windows signal 0 is CTRL_C_EVENT and would stop it."""
    if pid == os.getpid():
        # An earlier run in this same process that did not release (a test, an embedding
        # program): it is not running any more.
        return False
    try:
        # a zombie (exited, not yet reaped by its parent) holds no folder
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # alive, owned by another user
        return True


class RunLock:
    """The lock of one output folder, held from start to the end of the run."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.held = False
        self.note: str | None = None  # said in the run's log once it is open

    def owner(self) -> dict | None:
        """The recorded owner, or None when there is no lock (or it was cut short by a kill)."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # unreadable or half-written: its writer died before finishing

    def refuse_if_held(self) -> None:
        """Raise UserInputError when a live run owns the folder; note a stale lock."""
        owner = self.owner()
        if owner is None:
            return
        pid, host = owner.get("pid"), owner.get("host")
        if host and host != socket.gethostname():
            raise UserInputError(
                f"{self.folder} is in use by a run on {host} (PID {pid}): one run per output folder. Wait for it, "
                f"give this run another `name` (or -n NAME), or delete {self.path} if that run is over")
        if isinstance(pid, int) and _pid_alive(pid):
            raise UserInputError(
                f"{self.folder} is in use by another run (PID {pid}): one run per output folder. Wait for it or "
                f"stop it, or give this run another `name` (or -n NAME)")
        if isinstance(pid, int) and pid != os.getpid():
            self.note = f"took over {self.path.name} of a run that is gone (PID {pid})"
        elif not isinstance(pid, int):
            self.note = f"took over an unreadable {self.path.name} (its run was stopped while writing it)"

    def acquire(self) -> RunLock:
        payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.folder, exc) from exc
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self.refuse_if_held()
                self.path.unlink(missing_ok=True)  # stale: take it over
                continue
            except OSError as exc:
                raise write_error(self.path, exc) from exc
            try:
                os.write(fd, payload.encode())
                os.fsync(fd)
            except OSError as exc:
                raise write_error(self.path, exc) from exc
            finally:
                os.close(fd)
            self.held = True
            return self
        # Another process won the race each time: it is running.
        self.refuse_if_held()
        raise UserInputError(f"{self.folder} is being taken by another run right now: one run per output folder")

    def release(self) -> str | None:
        """Remove the lock. Never raises: it runs on the way out of a run that may be failing
        for the very reason the lock cannot be removed (a folder that became read-only), and
        that first error is the one to report. Returns what went wrong, for the log, or None;
        a lock left behind names a process that is gone, so the next run takes it over."""
        if not self.held:
            return None
        self.held = False
        owner = self.owner()
        if owner and owner.get("pid") == os.getpid():
            try:
                self.path.unlink(missing_ok=True)
            except OSError as exc:
                return (f"could not remove {self.path} ({exc.strerror or exc}); the next run takes it over "
                        "(its process is gone)")
        return None

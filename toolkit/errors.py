"""Error types that map to the CLI's exit codes.

Every failure the user can fix is raised as one of these, with a message that names the
file, key or value and says what to do. run.py turns them into one line and an exit code
(tracebacks only with --verbose).
"""

from __future__ import annotations

import signal


class ToolkitError(Exception):
    """Base class: a failure with a message meant for the user."""

    exit_code = 1


class UserInputError(ToolkitError):
    """Bad config, bad path, bad dataset folder: the run never started. Exit code 2."""

    exit_code = 2


class ConfigError(UserInputError):
    """A config file that cannot be read or does not validate."""


class RunFailed(ToolkitError):
    """The run started and then failed (strict audio mode, non-finite losses, ...). Exit 1."""

    exit_code = 1


class MediaError(ToolkitError):
    """A media file could not be decoded. Always names the file."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class NoAudioStream(MediaError):
    """The file has no audio stream at all (not a decode failure)."""


class WriteFailed(ToolkitError):
    """A file could not be written. Names the path and the reason; the previous version of
    the file (if any) is untouched. Exit 1 unless a subclass says otherwise."""

    exit_code = 1

    def __init__(self, path, reason: str, hint: str = ""):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot write {self.path}: {reason}" + (f" ({hint})" if hint else ""))


class WriteRefused(WriteFailed, UserInputError):
    """Read-only place, no permission, a file where a folder should be: the user points the
    run somewhere writable. Exit 2."""

    exit_code = 2


class DiskFull(WriteFailed, RunFailed):
    """No space left (or a file-size limit): the run failed after it started. Exit 1."""

    exit_code = 1


class Interrupted(KeyboardInterrupt):
    """The run was stopped by SIGINT (Ctrl-C, exit 130) or SIGTERM (exit 143): 128 + the
    signal number, as shells report it. A KeyboardInterrupt, so nothing that catches
    Exception can swallow it and run.py never starts the next config. `saved`: a checkpoint
    of the step it stopped at was written first."""

    def __init__(self, signal_name: str = "SIGINT", saved: bool = False):
        self.signal_name = signal_name
        self.saved = saved
        self.exit_code = 128 + int(getattr(signal, signal_name, signal.SIGINT))
        super().__init__(f"interrupted ({signal_name})")

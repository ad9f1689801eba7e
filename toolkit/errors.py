"""Error types that map to the CLI's exit codes.

Every failure the user can fix is raised as one of these, with a message that names the
file, key or value and says what to do. run.py turns them into one line and an exit code
(tracebacks only with --verbose).
"""

from __future__ import annotations


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

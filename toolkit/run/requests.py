"""Save now / Sample now: requests a launcher makes by creating a file, honoured at the next step.

A launcher that runs the trainer as a child (the ai-toolkit extension in patches/, after its
UI's "Save now" or "Sample now" button) names two files in the environment, as it names the
stop file (toolkit/run/signals.py). The trainer looks for them once a step. Taking a request
removes its file, so the file's absence means the request was taken, and creating it again
asks again; removing is the test for presence too, so a request is never taken twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SAVE_FILE_ENV = "LTX2_SAVE_FILE"
SAMPLE_FILE_ENV = "LTX2_SAMPLE_FILE"
ENV_OF = {"save": SAVE_FILE_ENV, "sample": SAMPLE_FILE_ENV}


class RunRequests:
    """The request files named in the environment (none: nothing is ever requested)."""

    def __init__(self, environ: Mapping[str, str] = os.environ):
        self.files = {kind: Path(environ[env]) for kind, env in ENV_OF.items() if environ.get(env)}

    def take(self, kind: str) -> bool:
        """True once per request of `kind` ("save" or "sample")."""
        path = self.files.get(kind)
        if path is None:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

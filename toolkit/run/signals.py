"""SIGINT and SIGTERM: both stop the whole program the same way (exit 130 / 143).

Outside the training loop (loading, caching) a signal raises `Interrupted` at once; the run
records status "stopped" and run.py exits without starting another config. Inside the loop
`StopRequest` only sets a flag: the step in flight finishes, a checkpoint is saved, then the
loop raises `Interrupted(saved=True)`.
"""

from __future__ import annotations

import os
import signal
import time

from toolkit.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InterruptOnSignals:
    """For the whole program: SIGINT and SIGTERM raise `Interrupted` naming the signal.
    (Python's default leaves SIGTERM to kill the process without any cleanup.)"""

    def __enter__(self):
        self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    @staticmethod
    def _handle(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


class StopRequest:
    """SIGINT/SIGTERM set a flag; the loop finishes its step, saves and stops.

    Under `accelerate launch`, a Ctrl-C reaches each worker twice: from the terminal and again
    from the launcher, which forwards it. A second signal within `REPEAT_S` seconds is that
    same request; a later one leaves at once. A launcher that cannot signal us (Windows
    without a console: the ai-toolkit extension in patches/) creates the file named by
    LTX2_STOP_FILE instead; it is looked for once a step and stops the run like Ctrl-C."""

    REPEAT_S = 3.0
    FILE_ENV = "LTX2_STOP_FILE"

    def __init__(self):
        self.signalled = False
        self.signal_name = ""
        self._previous = {}
        self._first_at = 0.0
        self.stop_file = os.environ.get(self.FILE_ENV) or None

    @property
    def requested(self) -> bool:
        if not self.signalled and self.stop_file and os.path.exists(self.stop_file):
            self.signalled, self.signal_name = True, f"stop file {self.stop_file}"  # exits as SIGINT would
        return self.signalled

    def __enter__(self):
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signalled:  # a second Ctrl-C while saving: leave at once
            if time.monotonic() - self._first_at < self.REPEAT_S:
                return
            raise Interrupted(self.signal_name or signal.Signals(signum).name)
        self.signalled = True
        self._first_at = time.monotonic()
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False

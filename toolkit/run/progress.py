"""Progress of a slow phase, for the console and for whoever reads only the log.

Building the reference voice, rendering the base samples, scanning and caching the clips
(their audio scanned, cached latents verified or encoded) each take seconds to minutes; a
phase that prints nothing looks hung. :class:`Progress` shows a tqdm bar on the console
(stderr) and, for the web UI, which reads `log.txt` and no console, writes a line to the log
every :data:`LOG_EVERY_S` seconds while the phase runs ("reference voice: 8/24 clips, 42 s").
Those lines go to the log file only (`RunOutput.progress`): the console has the bar.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

#: Seconds between two progress lines in the log (the first comes after this long).
LOG_EVERY_S = 10.0


class Progress:
    """One phase: ``total`` items of ``unit``. ``log``: anything with ``progress(message)``
    (RunOutput), or None for the console bar only. ``enabled=False`` shows nothing."""

    def __init__(self, total: int, desc: str, unit: str, log=None, enabled: bool = True):
        self.total, self.desc, self.unit = total, desc, unit
        self.bar = tqdm(total=total, desc=desc, unit=unit, leave=False, disable=not enabled, file=sys.stderr)
        self._note = getattr(log, "progress", None) if enabled and log is not None else None
        self.done = 0
        self.started = self._said = time.perf_counter()

    def update(self, item: str | None = None) -> None:
        """One more item done (``item``: its name, for the log line)."""
        self.done += 1
        self.bar.update(1)
        now = time.perf_counter()
        if self._note is not None and now - self._said >= LOG_EVERY_S and self.done < self.total:
            self._said = now
            last = f" (last: {item})" if item else ""
            self._note(f"{self.desc}: {self.done}/{self.total} {self.unit}s, {now - self.started:.0f} s{last}")

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

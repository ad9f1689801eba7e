"""Timing helpers shared by the bench scripts (one definition, so every bench measures alike)."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(step: Callable[[], object], count: int) -> list[float]:
    """Wall seconds of each of `count` calls of `step` (perf_counter: monotonic, the finest
    clock). Whatever `step` must finish (a CUDA queue) it waits for itself."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times

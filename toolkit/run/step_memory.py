"""The trainer's own peak memory per step, for status.json and metrics.jsonl.

On a CUDA device this is the peak of memory allocated by tensors since the previous
reading (the counter is reset after each reading, so every step reports its own peak).
Without CUDA it is the process's peak resident set size so far: the operating system
keeps only that running maximum, so it never goes down between steps.
"""

from __future__ import annotations

import sys

GIB = float(1 << 30)


def _cpu_peak_bytes() -> int | None:
    try:
        import resource  # noqa: PLC0415 (may be missing: the except below handles it)
    except ImportError:  # Windows: no getrusage
        return _psutil_peak()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _psutil_peak() -> int | None:
    try:
        import psutil  # noqa: PLC0415 (may be missing: the except below handles it)
    except ImportError:
        return None
    info = psutil.Process().memory_info()
    return int(getattr(info, "peak_wset", 0) or info.rss)


class StepPeakMemory:
    """One reading per step number; later calls for the same step return the same reading."""

    def __init__(self) -> None:
        self._step: int | None = None
        self._reading: dict = {}

    def read(self, step: int) -> dict:
        if step == self._step:
            return self._reading
        self._step, self._reading = step, self._measure()
        return self._reading

    @staticmethod
    def _measure() -> dict:
        torch = sys.modules.get("torch")  # never import torch just to measure
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            # The trainer makes its device the current one (torch.cuda.set_device), so
            # these counters are its own.
            peak = torch.cuda.max_memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            return {"peak_mem_gb": round(peak / GIB, 3), "peak_mem_kind": "cuda_allocated"}
        peak = _cpu_peak_bytes()
        if peak is None:
            return {}
        return {"peak_mem_gb": round(peak / GIB, 3), "peak_mem_kind": "process_peak_rss"}

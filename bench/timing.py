"""Timing helpers shared by the bench scripts (one definition, so every bench measures alike)."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from toolkit.memory.dtypes import DTYPES


def timed(step: Callable[[], object], count: int) -> list[float]:
    """Wall seconds of each of `count` calls of `step` (perf_counter: monotonic, the finest
    clock). Whatever `step` must finish (a CUDA queue) it waits for itself."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def interleaved_medians(steps: dict, warmup: int, count: int, rounds: int = 5) -> dict:
    """{key: median seconds} of each step, after `warmup` calls each, timed in `rounds`
    interleaved rounds of `count // rounds` calls (at least one), so load changes on a shared
    machine hit every step alike."""
    for step in steps.values():
        timed(step, warmup)
    times: dict = {key: [] for key in steps}
    for _ in range(rounds):
        for key, step in steps.items():
            times[key] += timed(step, max(1, count // rounds))
    return {key: statistics.median(values) for key, values in times.items()}


def step_time_parser(description: str, dtype: str) -> argparse.ArgumentParser:
    """The options every step-time bench takes (steps, warm-up, LoRA rank, dtype, threads)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--dtype", choices=[name for name in DTYPES if name != "fp16"], default=dtype)
    parser.add_argument("--threads", type=int, default=1)
    return parser

"""Measure the memory plan's step term (toolkit/memory/plan/calibrate.py) and write calibration.json.

For each released version and each combination of the settings the step term depends on, a
one-block model is traced at full width and at three clip shapes under fake tensors (no
memory is allocated; about 10 s of CPU a trace) and the linear per-token fit is stored.

    .venv/bin/python bench/memory_calibrate.py            # every version and combination
    .venv/bin/python bench/memory_calibrate.py --version 2.3 --only-missing
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def combinations(base, qtypes=(None, "qfloat8", "torchao_int8")):
    """The settings the plan's resolver chooses among (bf16 LoRA: levers (a) and (f) on), and
    peft's own float32 adapters (the trainer before the levers) for comparison."""
    for qtype, chunk, offloaded in itertools.product(qtypes, (0, 4096), (False, True)):
        yield replace(base, qtype=qtype, ff_chunk_tokens=chunk, offload_percent=1.0 if offloaded else 0.0,
                      lora_precision="compute", lora_cast_before_add=True)
    for qtype in (None, "qfloat8"):
        yield replace(base, qtype=qtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="all", help="2.0, 2.3, 2.5 or all")
    parser.add_argument("--only-missing", action="store_true", help="keep the entries already measured")
    parser.add_argument("--qtypes", default="none,qfloat8,torchao_int8", help="quantization types to measure")
    args = parser.parse_args()

    import diffusers
    import peft
    import torch

    import toolkit  # noqa: F401  (torchao environment knob)
    from extensions_built_in.diffusion_models.ltx2.real_configs import VERSIONS
    from jobs.process.memory_trace import trace_step
    from toolkit.atomic import atomic_write_text
    from toolkit.memory.plan.calibrate import TABLE, measure, step_key
    from toolkit.memory.plan.settings import MemorySettings

    versions = VERSIONS if args.version == "all" else (args.version,)
    raw = json.loads(TABLE.read_text(encoding="utf-8")) if TABLE.is_file() else {"extra": {}}
    base = MemorySettings(cuda=False, connectors=False)
    for version in versions:
        qtypes = tuple(None if q == "none" else q for q in args.qtypes.split(","))
        for settings in combinations(base, qtypes):
            key = step_key(version, settings)
            if args.only_missing and key in raw["extra"]:
                continue
            start = time.perf_counter()
            extra = measure(version, settings, trace_step)
            raw["extra"][key] = list(asdict(extra).values())
            print(f"{key}: {extra.per_video_token:.0f} B/video token, {extra.per_audio_token:.0f} B/audio token, "
                  f"{extra.fixed / 2**30:.3f} GiB fixed ({time.perf_counter() - start:.0f} s)", flush=True)
            raw["measured"] = (f"{platform.node()}, {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, "
                               f"diffusers {diffusers.__version__}, peft {peft.__version__}")
            atomic_write_text(TABLE, json.dumps(raw, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()

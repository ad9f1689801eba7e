"""Trace a whole training step of the real-size model under fake tensors and compare its peak with the plan.

    # the settings the plan picks for a 12 GB card and 32 GB of RAM (a row of the card table):
    .venv/bin/python bench/memory_trace.py --version 2.3 --width 768 --height 768 --frames 121 --audio-seconds 5 --card 12
    # given settings:
    .venv/bin/python bench/memory_trace.py --version 2.3 --qtype qfloat8 --offload 1 --lora-precision compute \\
        --cast-before-add --offload-checkpoints --ff-chunk 4096 --optimizer-offload
    # every row of the card table (docs/memory.md), one after another (or some of them):
    .venv/bin/python bench/memory_trace.py --rows [--version 2.3 --cards 12,16,24]

The trainer's own code runs on fake tensors (jobs/process/memory_trace.py): nothing is
allocated; a 48-block step takes a few minutes of CPU and under 1 GB of RAM. Printed: the
traced device peak (what `torch.cuda.max_memory_allocated` would report) beside the plan's
training-step figure without the CUDA context (which the allocator does not see), the
difference, and the host memory the offloading levers hold in both. Exit 1 when a device
figure differs by more than --tolerance (10%).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=None, help="2.0, 2.3 or 2.5 (default 2.3; with --rows: every version)")
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--audio-seconds", type=float, default=5.0)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=None, help="fewer blocks than the config's 48 (a quick look)")
    parser.add_argument("--card", type=float, default=None, help="trace the settings the plan picks for this card (GB)")
    parser.add_argument("--host-gb", type=float, default=32.0, help="host RAM the plan plans for with --card")
    parser.add_argument("--no-sampling", action="store_true", help="with --card: a run that does not sample")
    parser.add_argument("--qtype", default="none", choices=["none", "qfloat8", "qint8", "torchao_int8", "torchao_float8"])
    parser.add_argument("--offload", type=float, default=0.0, help="share of blocks swapped (lever e)")
    parser.add_argument("--lora-precision", choices=["float32", "compute"], default="float32", help="lever (a)")
    parser.add_argument("--cast-before-add", action="store_true", help="lever (f)")
    parser.add_argument("--offload-checkpoints", action="store_true", help="lever (b)")
    parser.add_argument("--ff-chunk", type=int, default=0, help="lever (c): tokens per feed-forward chunk")
    parser.add_argument("--optimizer-offload", action="store_true", help="lever (d)")
    parser.add_argument("--train-text-encoder", action="store_true", help="the connectors train (and run each step)")
    parser.add_argument("--rows", action="store_true", help="every row of the card table, one after another")
    parser.add_argument("--cards", default=None, help="with --rows: only these cards, e.g. 12,24 (GB)")
    parser.add_argument("--tolerance", type=float, default=0.10)
    return parser.parse_args(argv)


def settings_of(args):
    from toolkit.memory.plan.settings import MemorySettings

    return MemorySettings(
        qtype=None if args.qtype == "none" else args.qtype, rank=args.rank, offload_percent=args.offload,
        lora_precision=args.lora_precision, lora_cast_before_add=args.cast_before_add or args.lora_precision == "compute",
        offload_checkpoints=args.offload_checkpoints, ff_chunk_tokens=args.ff_chunk,
        optimizer_offload=args.optimizer_offload, train_text_encoder=args.train_text_encoder,
        connectors=args.train_text_encoder, blocks=args.blocks)


def compare(version: str, shape, settings, blocks, tolerance: float) -> tuple[bool, list[str]]:
    """Trace, plan, and the lines that say how they compare."""
    from extensions_built_in.diffusion_models.ltx2.real_configs import transformer_config
    from jobs.process.memory_trace import trace_step
    from toolkit.memory.estimate import estimate
    from toolkit.memory.plan.resolve import describe_settings
    from toolkit.memory.plan.settings import GiB

    settings = replace(settings, cuda=False, blocks=blocks)  # the trace sees what the allocator sees
    planned = estimate(transformer_config(version, blocks), shape, settings)
    result = trace_step(version, shape, settings, blocks=blocks)
    device_diff = (result.device_peak - planned.total) / planned.total
    planned_host = sum(planned.host.values())
    ok = abs(device_diff) <= tolerance
    lines = [f"LTX-{version}, {blocks or 48} blocks, {shape.video_tokens} video + {shape.audio_tokens} audio tokens: "
             f"{describe_settings(settings)}",
             f"  device: traced {result.device_peak / GiB:.2f} GiB, plan {planned.total / GiB:.2f} GiB "
             f"({device_diff:+.1%}) {'ok' if ok else 'DIFFERS'}; resting before the step: traced "
             f"{result.device_resting / GiB:.2f} GiB",
             f"  host (what the levers keep there): traced {result.host_peak / GiB:.2f} GiB, plan "
             f"{planned_host / GiB:.2f} GiB",
             "  traced peak by phase: " + ", ".join(f"{k} {v / GiB:.2f}" for k, v in result.device_parts.items()),
             f"  traced in {result.seconds:.0f} s"]
    return ok, lines


def main(argv=None) -> int:
    args = parse(argv)
    import torch

    import toolkit  # noqa: F401  (torchao environment knob)
    from toolkit.memory.plan.settings import TrainShape

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from memory_table import plan_for

    shape = TrainShape.from_clip(args.width, args.height, args.frames, 24.0, args.audio_seconds)
    jobs = []
    if args.rows:
        from extensions_built_in.diffusion_models.ltx2.real_configs import VERSIONS
        from toolkit.memory.plan.cards import CARD_SIZES

        cards = [float(c) for c in args.cards.split(",")] if args.cards else CARD_SIZES
        versions = [args.version] if args.version else VERSIONS
        jobs = [(v, plan_for(v, card, args).settings, f"{card:g} GB card") for card in cards for v in versions]
    elif args.card is not None:
        args.version = args.version or "2.3"
        jobs = [(args.version, plan_for(args.version, args.card, args).settings, f"{args.card:g} GB card")]
    else:
        args.version = args.version or "2.3"
        jobs = [(args.version, settings_of(args), "given settings")]
    print(f"# bench/memory_trace.py, {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, fake tensors on the CPU")
    all_ok = True
    for version, settings, label in jobs:
        ok, lines = compare(version, shape, replace(settings, rank=args.rank), args.blocks, args.tolerance)
        print(f"[{label}] " + "\n".join(lines), flush=True)
        all_ok = all_ok and ok
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())

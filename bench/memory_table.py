"""The memory plan for a card, or the card table of docs/memory.md (no model is built: meta device only).

    # the cheapest settings that fit a 12 GB card (exit 0), or none (exit 1):
    .venv/bin/python bench/memory_table.py --card 12 --version 2.3 --width 768 --height 768 --frames 121 --audio-seconds 5
    # the card table (8/12/16/24/32 GB x 2.0/2.3/2.5), as markdown:
    .venv/bin/python bench/memory_table.py

Every memory setting is left to the plan (toolkit/memory/plan/resolve.py): the fastest
settings, on the RTX 4090 estimate, whose every phase fits the card (95% of it) and the host
RAM (90% of --host-gb). "Cheapest" means that: the least step time, then the least device
memory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--card", type=float, default=None, help="the card's memory in GB; without it: the card table")
    parser.add_argument("--version", default="all", help="2.0, 2.3, 2.5 or all")
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--audio-seconds", type=float, default=5.0)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--host-gb", type=float, default=32.0, help="host RAM in GB (default 32)")
    parser.add_argument("--no-sampling", action="store_true", help="a run that does not sample (decoders freed)")
    return parser.parse_args(argv)


def plan_for(version: str, card_gb: float, args):
    from extensions_built_in.diffusion_models.ltx2.real_configs import transformer_config
    from toolkit.memory.plan.resolve import Choices, resolve
    from toolkit.memory.plan.settings import GiB, MemorySettings, TrainShape

    shape = TrainShape.from_clip(args.width, args.height, args.frames, 24.0, args.audio_seconds)
    base = MemorySettings(rank=args.rank, connectors=False, sampling=not args.no_sampling)
    return resolve(version, transformer_config(version), shape, base, Choices(), card_gb * GiB, args.host_gb * GiB)


def card_lines(version: str, card_gb: float, args) -> tuple[list[str], bool]:
    from toolkit.memory.plan.settings import GiB

    resolved = plan_for(version, card_gb, args)
    mem = resolved.memory
    head = (f"LTX-{version}, {args.width}x{args.height}x{args.frames} frames + {args.audio_seconds:g} s audio "
            f"({resolved.shape.video_tokens} video + {resolved.shape.audio_tokens} audio tokens), LoRA rank {args.rank}, "
            f"a {card_gb:g} GB card, {args.host_gb:g} GB of RAM:")
    if resolved.fits:
        lines = [head, f"  fits: {resolved.settings_line()}",
                 f"  device {mem.device_peak / GiB:.1f} GiB ({mem.device_phase.name} phase), host "
                 f"{mem.host_peak / GiB:.1f} GiB ({mem.host_phase.name} phase); {resolved.link_bytes / 1e9:.1f} GB over "
                 f"PCIe a step, about {resolved.step_seconds:.1f} s a step on an RTX 4090 (estimate)"]
    else:
        short = [m for m, ok in (("device", resolved.device_fits), ("host RAM", resolved.host_fits)) if not ok]
        lines = [head, f"  nothing fits ({' and '.join(short)} short); the least device memory: "
                 f"{resolved.settings_line()}: device {mem.device_peak / GiB:.1f} GiB, host {mem.host_peak / GiB:.1f} GiB"]
    return lines + ["  " + line for line in resolved.lines()[1:]], resolved.fits


def table(versions, args) -> list[str]:
    from extensions_built_in.diffusion_models.ltx2.real_configs import transformer_config
    from toolkit.memory.plan.cards import CARD_SIZES, GPUS
    from toolkit.memory.plan.settings import GiB
    from toolkit.memory.plan.steptime import step_cost

    out = ["| card | version | settings (chosen by the plan) | device GiB | host GiB | PCIe GB/step | "
           + " | ".join(f"step s, {g.name}" for g in GPUS) + " |",
           "|---|---|---|---|---|---|" + "---|" * len(GPUS)]
    for card in CARD_SIZES:
        for version in versions:
            resolved = plan_for(version, card, args)
            mem = resolved.memory
            if not resolved.fits:
                out.append(f"| {card} GB | {version} | does not fit (least device memory: {resolved.settings_line()}) | "
                           f"{mem.device_peak / GiB:.1f} | {mem.host_peak / GiB:.1f} | | " + " | " * len(GPUS))
                continue
            times = [step_cost(version, transformer_config(version), resolved.shape, resolved.settings, g).seconds
                     for g in GPUS]
            out.append(f"| {card} GB | {version} | {resolved.settings_line()} | {mem.device_peak / GiB:.1f} | "
                       f"{mem.host_peak / GiB:.1f} | {resolved.link_bytes / 1e9:.1f} | "
                       + " | ".join(f"{t:.1f}" for t in times) + " |")
    return out


def main(argv=None) -> int:
    args = parse(argv)
    import toolkit  # noqa: F401  (torchao environment knob)
    from extensions_built_in.diffusion_models.ltx2.real_configs import VERSIONS

    versions = VERSIONS if args.version == "all" else (args.version,)
    if args.card is None:
        print("\n".join(table(versions, args)))
        return 0
    fits_all = True
    for version in versions:
        lines, fits = card_lines(version, args.card, args)
        print("\n".join(lines))
        fits_all = fits_all and fits
    return 0 if fits_all else 1


if __name__ == "__main__":
    sys.exit(main())

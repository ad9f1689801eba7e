"""The memory model's tables for docs/memory.md (no model is built: meta device only).

    .venv/bin/python bench/memory_table.py [--width 768 --height 768 --frames 121 --audio-seconds 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CARDS = (16, 24, 32, 48, 80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--audio-seconds", type=float, default=5.0)
    parser.add_argument("--rank", type=int, default=32)
    args = parser.parse_args()

    import toolkit  # noqa: F401
    from toolkit.memory.estimate import GiB, MemorySettings, TrainShape, caching_bytes, estimate
    from toolkit.memory.real_configs import VERSIONS, transformer_config
    from toolkit.memory.startup import expected_bytes, suggest

    shape = TrainShape.from_clip(args.width, args.height, args.frames, 24.0, args.audio_seconds)
    print(f"{args.width}x{args.height}x{args.frames} frames + {args.audio_seconds:g} s audio: "
          f"{shape.video_tokens} video + {shape.audio_tokens} audio tokens, LoRA rank {args.rank}, AdamW, batch 1\n")
    base = MemorySettings(rank=args.rank, text_encoder_on_device=True, vaes_on_device=True)
    print("| version | settings | training step | caching phase | total (max) |")
    print("|---|---|---|---|---|")
    rows = [("bf16, everything on the device", base),
            ("bf16, low_vram", MemorySettings(rank=args.rank)),
            ("bf16, low_vram, no checkpointing", MemorySettings(rank=args.rank, checkpointing=False)),
            ("qfloat8 + quantize_te, low_vram", MemorySettings(rank=args.rank, qtype="qfloat8", quantize_te=True)),
            ("qfloat8 + quantize_te, low_vram, offload 50%",
             MemorySettings(rank=args.rank, qtype="qfloat8", quantize_te=True, offload_percent=0.5)),
            ("qfloat8 + quantize_te, low_vram, offload 100%",
             MemorySettings(rank=args.rank, qtype="qfloat8", quantize_te=True, offload_percent=1.0))]
    for version in VERSIONS:
        config = transformer_config(version)
        for label, settings in rows:
            step = estimate(config, shape, settings).total
            cache = caching_bytes(config, settings)
            print(f"| {version} | {label} | {step / GiB:.1f} | {cache / GiB:.1f} | {max(step, cache) / GiB:.1f} |")
    print("\n| version | " + " | ".join(f"{c} GB" for c in CARDS) + " |")
    print("|---|" + "---|" * len(CARDS))
    for version in VERSIONS:
        config = transformer_config(version)
        cells = []
        for card in CARDS:
            capacity = card * GiB
            if expected_bytes(config, shape, base) <= capacity * 0.95:
                cells.append("as is (bf16)")
                continue
            fixes = suggest(config, shape, base, capacity, args.width, args.frames, 24.0)
            cells.append("; or ".join(f.replace("model.", "").replace("datasets[].", "").replace(" (qtype qfloat8)", "")
                                      .replace("layer_offloading: true, layer_offloading_transformer_percent", "offload")
                                      .replace(": true", "").replace(": ", " ")
                                      for f in fixes) or "does not fit")
        print(f"| {version} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""Lever (a) and learning: the trainer's loss curves with LoRA math in float32 and in the
compute dtype (train.lora_precision), bf16, over several seeds, on the tiny LTX-2.

Each (seed, precision) pair is a whole run of the real trainer (run.py's TrainProcess on the
synthetic clips, one shared latent cache). A seed fixes the adapter's initialisation, the
data order, the timesteps and the noise, so the two precisions of one seed see the same
draws and differ only by rounding; different seeds differ by everything. Printed: the mean
loss of each stretch of steps per precision (mean over seeds), and per seed the last stretch's
mean for both precisions. The verdict compares the paired gap (float32 vs compute, same seed)
with the seed-to-seed spread of float32 runs (their standard deviation): run-to-run noise.

    .venv/bin/python bench/lora_precision.py [--seeds 4] [--steps 120]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402

import toolkit  # noqa: E402,F401

PRECISIONS = ("float32", "compute")


def losses(folder: Path) -> list[float]:
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--window", type=int, default=20, help="steps per stretch of the curve")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from conftest import copy_media, run_config, tiny_config

    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built
    from toolkit.dev.synthetic_data import make_dataset

    work = Path(tempfile.mkdtemp(prefix="bench_lora_precision_"))
    model_dir = REPO / "models" / "tiny-ltx2"
    if not is_built(model_dir):
        model_dir = build_tiny_ltx2(work / "tiny-ltx2")
    synthetic = REPO / "data" / "synthetic"
    if not (synthetic / ".complete").exists():
        synthetic = make_dataset(work / "synthetic", clips=4, images=2, seconds=2.0, size=64, seed=0)
    data = copy_media(synthetic, work / "data", ["clip_000.mp4", "clip_001.mp4", "clip_002.mp4"])
    curves: dict[str, list[list[float]]] = {p: [] for p in PRECISIONS}
    started = time.time()
    for seed in range(args.seeds):
        for precision in PRECISIONS:
            cfg = tiny_config(model_dir, data, work / "out", name=f"s{seed}_{precision}", steps=args.steps, **{
                "train.dtype": "bf16", "train.seed": seed, "train.lora_precision": precision,
                "train.lr": 1e-3, "train.gradient_checkpointing": True, "save.dtype": "bf16",
                "datasets.0.cache_latents_to_disk": True, "logging.log_every": 1})
            proc = run_config(cfg)
            curves[precision].append(losses(proc.out.folder))
            print(f"seed {seed} {precision}: done ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)

    w = args.window
    stretches = range(0, args.steps, w)
    print(f"Tiny LTX-2, bf16, LoRA rank 8, lr 1e-3, {args.steps} steps, {args.seeds} seeds, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| steps | " + " | ".join(f"{s + 1}-{s + w}" for s in stretches) + " |")
    print("|---|" + "---|" * len(stretches))
    for precision in PRECISIONS:
        means = [statistics.mean(statistics.mean(c[s:s + w]) for c in curves[precision]) for s in stretches]
        print(f"| {precision} (mean of seeds) | " + " | ".join(f"{m:.4f}" for m in means) + " |")
    last = {p: [statistics.mean(c[-w:]) for c in curves[p]] for p in PRECISIONS}
    print(f"\nMean loss of the last {w} steps per seed:\n")
    print("| seed | float32 | compute | gap |\n|---|---|---|---|")
    for seed in range(args.seeds):
        f, c = last["float32"][seed], last["compute"][seed]
        print(f"| {seed} | {f:.4f} | {c:.4f} | {c - f:+.4f} |")
    spread = statistics.stdev(last["float32"])
    gaps = [abs(c - f) for c, f in zip(last["compute"], last["float32"], strict=True)]
    mean_gap = statistics.mean(c - f for c, f in zip(last["compute"], last["float32"], strict=True))
    print(f"\nseed-to-seed spread (stdev of float32 runs): {spread:.4f}; largest paired gap {max(gaps):.4f} "
          f"({max(gaps) / spread:.2f}x the spread); mean gap compute - float32 {mean_gap:+.4f}")
    verdict = "within" if max(gaps) < spread else "NOT within"
    print(f"compute-dtype LoRA is {verdict} run-to-run noise of float32 LoRA")


if __name__ == "__main__":
    main()

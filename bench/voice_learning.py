"""Learning quality of the voice path: held-out losses and voice-preservation drift per
training setting, on the tiny model (issue 16, grown into the comparison table of issue 27).

Trains the tiny LTX-2 on synthetic clips with speech (espeak-ng words over tones) from the
same seed under each setting:

- defaults: independent audio timestep, auto-balanced audio loss;
- ai-toolkit's behaviour: one shared sigma, the audio loss at a fixed weight 1;
- audio files + clips: the same clips plus audio-only files of other speech (.wav);
- video-to-audio: every clip with its voice trained video-to-audio (direction);
- each balance mode: auto (= defaults), fixed x0.33, off (x1);
- audio_lr at 0.3x and 1x the lr (1x: a check that the group split changes nothing else);

then measures, with the run's own validation (toolkit/train/validation.py: the flow-matching
MSE at sigmas 0.1..0.9 with fixed noise, network in eval mode) on held-out clips never
trained on: the audio and video loss with both modalities at the same sigma, the audio loss
with the video clean (what video-to-audio is trained for), and the voice-preservation drift
(bench/audio_preservation.py: how far the audio prediction moved from the base model's on
prompts that are not the character's, relative MSE). The base model (network off) is the
first row. The tiny model's samples are noise, so this measures the training mechanisms,
not a voice anyone could hear; docs/benchmarks.md says what it can and cannot say.

    nice .venv/bin/python bench/voice_learning.py [--steps 150] [--train-clips 6] [--held-out 2] [--seeds 3 4 5]

Every setting trains from each seed; the table gives each measure's mean over the seeds and
its ratio to the defaults trained from the same seed, with the range of that ratio over the
seeds (the paired comparison: a seed moves every setting alike). About 4 minutes per seed on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402

import toolkit  # noqa: E402,F401

LR = 2e-3
VARIANTS = {
    "defaults (independent sigma, auto balance)": {},
    "ai-toolkit (shared sigma, fixed x1)": {"train.independent_audio_timestep": False,
                                            "train.audio_balance_mode": "fixed"},
    "audio files + clips": {"audio_files": True},
    "video-to-audio (every clip)": {"datasets.0.direction": "video_to_audio"},
    "balance fixed x0.33": {"train.audio_balance_mode": "fixed", "train.audio_loss_multiplier": 0.33},
    "balance off (x1)": {"train.audio_balance_mode": "off"},
    "audio_lr 0.3x": {"train.audio_lr": 0.3 * LR},
    "audio_lr 1x": {"train.audio_lr": LR},
}


@torch.no_grad()
def audio_loss_given_clean_video(proc) -> float:
    """Held-out audio MSE with the video clean (sigma 0): the video-to-audio task."""
    from toolkit.train.validation import NOISE_SEED, SIGMAS
    from toolkit.train_tools import add_noise, flow_target

    model, items = proc.model, [i for i in proc.validation.validator.items if i.has_audio and not i.audio_only]
    model.transformer.eval()
    total = 0.0
    try:
        for index, item in enumerate(items):
            generator = torch.Generator().manual_seed(NOISE_SEED + index)
            x0_video, x0_audio = item.video_latent[None].float(), item.audio_latent[None].float()
            noise = torch.randn(x0_audio.shape, generator=generator)
            prompt = proc.batches.encode_caption(item.caption)
            for sigma in SIGMAS:
                s = torch.tensor([sigma])
                _, audio = model.predict(x0_video, add_noise(x0_audio, noise, s), torch.zeros(1), s, prompt, item.fps)
                total += (audio - flow_target(x0_audio, noise)).square().mean().item()
    finally:
        model.transformer.train()
    return total / (len(items) * len(SIGMAS))


def measure(proc, drift: bool = True) -> dict:
    from audio_preservation import HELD_OUT, audio_drift

    result = proc.validation.validator.run(proc.step)
    return {"audio": result.audio, "video": result.video, "audio_clean_video": audio_loss_given_clean_video(proc),
            "drift": audio_drift(proc, HELD_OUT) if drift else 0.0}


def audio_files(source: Path, target: Path, clips: int, seed: int) -> None:
    """Audio-only files of other speech: synthetic clips' sound, extracted by ffmpeg."""
    from toolkit.dev.synthetic_data import make_dataset

    made = make_dataset(target.parent / "audio_src", clips=clips, images=0, seconds=2.0, size=64, seed=seed)
    target.mkdir(exist_ok=True)
    for path in made:
        wav = target / f"voice_{path.stem}.wav"
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-i", str(path), "-vn", "-c:a", "pcm_s16le",
                        str(wav)], check=True, capture_output=True, timeout=120)
        shutil.copy2(path.with_suffix(".txt"), wav.with_suffix(".txt"))


COLUMNS = (("audio", "held-out audio MSE"), ("video", "held-out video MSE"),
           ("audio_clean_video", "audio MSE, video clean"))


def train_variant(model_dir: Path, work: Path, dirs: tuple[Path, Path, Path], label: str, overrides: dict, name: str,
                  steps: int, seed: int, base: dict | None) -> tuple[dict, float, dict | None, int]:
    """Train one setting from `seed`; (its measures, its mean audio weight over the last 50
    steps, the base model's measures (measured on the first run only), held-out items)."""
    from audio_preservation import DRIFT_KEEPS
    from conftest import tiny_config

    from jobs.process.BaseSDTrainProcess import TrainProcess
    from toolkit.configuration.loader import validate_config_data

    train_dir, held_dir, audio_dir = dirs
    overrides = dict(overrides)
    extra = overrides.pop("audio_files", False)
    dataset = {"folder_path": str(train_dir), "resolution": [64], "num_frames": 9, "fps": 24,
               "cache_latents_to_disk": True}
    datasets = [dataset] + ([{**dataset, "folder_path": str(audio_dir)}] if extra else [])
    held = [{"folder_path": str(held_dir), "resolution": [64], "num_frames": 9, "fps": 24, "window_variants": 1,
             "cache_latents_to_disk": True}]
    cfg = tiny_config(model_dir, train_dir, work / f"out_{name}", name=name, steps=steps,
                      **{"network.linear": 16, "network.linear_alpha": 16, "train.lr": LR,
                         "logging.log_every": 1000, "train.seed": seed, "datasets": datasets,
                         "validation_datasets": held, "train.validate_every": 10 * steps, **DRIFT_KEEPS,
                         **overrides})
    loaded = validate_config_data(cfg)
    proc = TrainProcess(loaded.job.config.process[0], name, loaded.raw)
    proc.prepare()
    if base is None:
        proc.network.set_enabled(False)
        try:
            base = measure(proc, drift=False)
        finally:
            proc.network.set_enabled(True)
    multipliers = []
    for _ in range(steps):
        multipliers.append(proc.train_step().get("audio_multiplier", float("nan")))
        proc.step += 1
    result = measure(proc)
    tail = multipliers[-50:]
    proc.out.close()
    return result, sum(tail) / len(tail), base, len(proc.validation.validator.items)


def spread(values: list[float], fmt: str) -> str:
    """The mean, and the range over the seeds when there are several."""
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:{fmt}}"
    return f"{mean:{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def print_table(base: dict, results: dict, weights: dict, seeds: list[int]) -> None:
    """One row per setting: each measure's mean over the seeds, its ratio to the base model,
    and its ratio to the defaults trained from the same seed (mean and range over the seeds):
    a seed moves every row alike, so the paired ratio is what compares two settings."""
    labels = list(results)
    default = labels[0]
    head = ["run"]
    for _, title in COLUMNS:
        head += [title, "vs base", "vs defaults (same seed)"]
    head += ["voice drift", "vs defaults", "audio weight (last 50 steps)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    cells = ["base model (network off)"]
    for key, _ in COLUMNS:
        cells += [f"{base[key]:.4f}", "1.000x", "-"]
    print("| " + " | ".join(cells + ["0", "-", "-"]) + " |")
    for label in labels:
        runs, defaults = results[label], results[default]
        cells = [label]
        for key, _ in COLUMNS:
            values = [r[key] for r in runs]
            paired = [r[key] / d[key] for r, d in zip(runs, defaults, strict=True)]
            mean = sum(values) / len(values)
            cells += [f"{mean:.4f}", f"{mean / base[key]:.3f}x", spread(paired, ".3f") + "x"]
        drift = [r["drift"] for r in runs]
        paired = [r["drift"] / d["drift"] for r, d in zip(runs, defaults, strict=True)]
        cells += [f"{sum(drift) / len(drift):.4f}", spread(paired, ".3f") + "x", spread(weights[label], ".3f")]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--train-clips", type=int, default=6)
    parser.add_argument("--held-out", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5],
                        help="training seeds (sigmas, noise, batch order); every setting trains from each")
    parser.add_argument("--only", nargs="*", help="run only the variants whose label starts with one of these")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built
    from toolkit.dev.synthetic_data import make_dataset

    work = Path(tempfile.mkdtemp(prefix="bench_voice_"))
    model_dir = REPO / "models" / "tiny-ltx2"
    if not is_built(model_dir):
        model_dir = build_tiny_ltx2(work / "model")
    every = make_dataset(work / "all", clips=args.train_clips + args.held_out, images=0, seconds=2.0, size=64, seed=5)
    train_dir, held_dir = work / "train", work / "held_out"
    for index, path in enumerate(every):
        target = train_dir if index < args.train_clips else held_dir
        target.mkdir(exist_ok=True)
        shutil.copy2(path, target / path.name)
        shutil.copy2(path.with_suffix(".txt"), target / path.with_suffix(".txt").name)
    audio_files(work, work / "audio", args.train_clips, seed=11)
    dirs = (train_dir, held_dir, work / "audio")

    variants = {k: v for k, v in VARIANTS.items() if not args.only or any(k.startswith(o) for o in args.only)}
    results: dict[str, list[dict]] = {label: [] for label in variants}
    weights: dict[str, list[float]] = {label: [] for label in variants}
    base, held_items, started, number = None, 0, time.time(), 0
    for seed in args.seeds:
        for label, overrides in variants.items():
            result, weight, base, held_items = train_variant(model_dir, work, dirs, label, overrides, f"v{number}",
                                                             args.steps, seed, base)
            number += 1
            results[label].append(result)
            weights[label].append(weight)
            print(f"[{time.time() - started:.0f} s] seed {seed}, {label}: {result}", flush=True)

    print(f"\ntiny LTX-2, {args.train_clips} training clips with speech (+{args.train_clips} audio files in one row), "
          f"{held_items} held-out windows ({args.held_out} clips), {args.steps} steps, LoRA rank 16 incl. audio modules, "
          f"lr {LR:g}, seeds {' '.join(map(str, args.seeds))}; {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}, {time.time() - started:.0f} s\n")
    print_table(base, results, weights, args.seeds)


if __name__ == "__main__":
    main()

"""Learning quality of the voice path: held-out flow-matching loss after training with this
trainer's defaults versus ai-toolkit's behaviour.

Trains the tiny LTX-2 on synthetic clips with speech twice from the same seed:
- defaults: independent audio timestep + auto-balanced audio loss;
- ai-toolkit: `independent_audio_timestep: false` + `auto_balance_audio_loss: false`
  (one shared sigma, audio loss weight 1);
then measures the video and audio flow-matching MSE on held-out clips (never trained on) at
a fixed grid of sigmas, with fixed noise, both modalities at the same sigma, network in
eval mode. The base model (network off) is the first row. The tiny model's samples are
noise, so this measures the training mechanism, not a voice anyone could hear; on real
weights the voice-similarity chart (docs/voice_metric.md) is the measure.

    .venv/bin/python bench/voice_learning.py [--steps 150] [--train-clips 6] [--held-out 2] [--seed 3]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402

import toolkit  # noqa: E402,F401

SIGMAS = (0.1, 0.3, 0.5, 0.7, 0.9)
VARIANTS = {
    "defaults (independent sigma, auto-balance)": {},
    "ai-toolkit (shared sigma, no balance)": {"train.independent_audio_timestep": False,
                                              "train.auto_balance_audio_loss": False},
}


@torch.no_grad()
def held_out_losses(proc, items, seed: int = 1234, network_on: bool = True) -> dict[float, tuple[float, float]]:
    """sigma -> (video MSE, audio MSE) over the held-out items, with fixed noise per item."""
    from toolkit.train_tools import add_noise, flow_target

    model = proc.model
    was_training = model.transformer.training
    model.transformer.eval()
    proc.network.set_enabled(network_on)
    out = {}
    try:
        for sigma in SIGMAS:
            video_sum = audio_sum = 0.0
            gen = torch.Generator().manual_seed(seed)  # the same noise at every sigma and for every variant
            for item in items:
                x0_video, x0_audio = item.video_latent[None].float(), item.audio_latent[None].float()
                noise_video = torch.randn(x0_video.shape, generator=gen)
                noise_audio = torch.randn(x0_audio.shape, generator=gen)
                s = torch.tensor([sigma])
                video_pred, audio_pred = model.predict(
                    add_noise(x0_video, noise_video, s).to(proc.device), add_noise(x0_audio, noise_audio, s).to(proc.device),
                    s, s, proc.batches.encode_caption(item.caption), item.fps)
                video_sum += (video_pred.cpu() - flow_target(x0_video, noise_video)).square().mean().item()
                audio_sum += (audio_pred.cpu() - flow_target(x0_audio, noise_audio)).square().mean().item()
            out[sigma] = (video_sum / len(items), audio_sum / len(items))
    finally:
        proc.network.set_enabled(True)
        model.transformer.train(was_training)
    return out


def encode_held_out(proc, folder: Path) -> list:
    from toolkit.dataloader_mixins import CachingReport, DatasetEncoder, DatasetSpec

    ds = proc.config.datasets[0]
    spec = DatasetSpec(folder=str(folder), resolution=ds.resolution[0], num_frames=ds.num_frames, fps=ds.fps,
                       do_audio=True, window_variants=1)
    encoder = DatasetEncoder(proc.model, model_id=proc.model.source, seed=7, log=proc.out, progress=False)
    with torch.no_grad():
        items = encoder.encode(spec, CachingReport())
    return [item for item in items if item.audio_latent is not None]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--train-clips", type=int, default=6)
    parser.add_argument("--held-out", type=int, default=2)
    parser.add_argument("--seed", type=int, default=3, help="training seed (sigmas, noise, batch order)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from conftest import tiny_config

    from jobs.process.BaseSDTrainProcess import TrainProcess
    from toolkit.config_loader import validate_config_data
    from toolkit.synthetic_data import make_dataset
    from toolkit.tiny_model import build_tiny_ltx2, is_built

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

    results, weights, base, started = {}, {}, None, time.time()
    for label, overrides in VARIANTS.items():
        name = "ai_toolkit" if overrides else "defaults"
        cfg = tiny_config(model_dir, train_dir, work / f"out_{name}", name=name, steps=args.steps,
                          **{"network.linear": 16, "network.linear_alpha": 16, "train.lr": 2e-3,
                             "logging.log_every": 1000, "train.seed": args.seed, **overrides})
        loaded = validate_config_data(cfg)
        proc = TrainProcess(loaded.job.config.process[0], name, loaded.raw)
        proc.prepare()
        if base is None:
            # Encoded once and shared: the VAE draws from the global RNG, which the training
            # set's encoding (or its disk-cache hits) would leave in a different state per run.
            held = encode_held_out(proc, held_dir)
            base = held_out_losses(proc, held, network_on=False)
        multipliers = []
        for _ in range(args.steps):
            multipliers.append(proc.train_step().get("audio_multiplier", float("nan")))
            proc.step += 1
        results[label] = held_out_losses(proc, held)
        tail = multipliers[-50:]
        weights[label] = sum(tail) / len(tail)
        proc.out.close()

    print(f"tiny LTX-2, {args.train_clips} training clips with speech, {len(held)} held-out windows "
          f"({args.held_out} clips), {args.steps} steps, LoRA rank 16 incl. audio modules, lr 2e-3, seed {args.seed}; "
          f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}, {time.time() - started:.0f} s")
    header = " | ".join(f"σ={s}" for s in SIGMAS)
    for kind, col in (("audio", 1), ("video", 0)):
        print(f"\nheld-out {kind} flow-matching MSE\n")
        print(f"| run | {header} | mean | vs base |")
        print("|---|" + "---|" * (len(SIGMAS) + 2))
        base_mean = sum(base[s][col] for s in SIGMAS) / len(SIGMAS)
        for label, losses in [("base model (network off)", base), *results.items()]:
            mean = sum(losses[s][col] for s in SIGMAS) / len(SIGMAS)
            cells = " | ".join(f"{losses[s][col]:.4f}" for s in SIGMAS)
            print(f"| {label} | {cells} | {mean:.4f} | {mean / base_mean:.3f}× |")
    print("\naudio loss weight in training (mean of the last 50 steps): "
          + "; ".join(f"{label}: {w:.3f}" for label, w in weights.items()))


if __name__ == "__main__":
    main()

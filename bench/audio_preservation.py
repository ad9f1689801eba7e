"""How far a LoRA trained on audio-free data moves the model's voice path, per preservation mode.

Trains the tiny LTX-2 on an image-only dataset (no audio anywhere) with
`train.audio_preservation` = none, silence and base, then measures the audio prediction's
drift from the base model (network off) on held-out prompts at fixed noise and sigmas:
relative drift = mean((pred_lora - pred_base)^2) / mean(pred_base^2). Lower keeps the voice.

    .venv/bin/python bench/audio_preservation.py [--steps 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import torch  # noqa: E402

import toolkit  # noqa: E402,F401

HELD_OUT = ["a woman says hello", "a man speaks in a dark scene", "two blue shapes moving up"]
# The run frees Gemma after its caption phase and the audio VAE when nothing will be sampled:
# the held-out prompts go in as sample prompts (never sampled), so the run's text cache keeps
# their connector outputs and the audio VAE stays for the silent latent.
DRIFT_KEEPS = {"train.disable_sampling": False, "sample.sample_every": 10**9,
               "sample.samples": [{"prompt": p} for p in HELD_OUT]}


@torch.no_grad()
def audio_drift(proc, prompts: list[str], seed: int = 99) -> float:
    """Relative squared drift of the audio prediction from the base model's."""
    model, network = proc.model, proc.network
    gen = torch.Generator().manual_seed(seed)
    video_shape = (1, model.transformer.config.in_channels, 3, 2, 2)
    audio = model.silent_audio_latent(int(16000 * 17 / 24))
    was_training = model.transformer.training
    model.transformer.eval()
    num, den = 0.0, 0.0
    try:
        for prompt in prompts:
            # the run freed Gemma after its caption phase: the prompts are the run's sample
            # prompts, whose frozen connectors' output the run's text cache keeps
            embeds = proc.text.embeds_for(prompt)
            for sigma in (0.3, 0.6, 0.9):
                s = torch.tensor([sigma])
                video = torch.randn(video_shape, generator=gen)
                noisy_audio = (1 - sigma) * audio + sigma * torch.randn(audio.shape, generator=gen)
                _, tuned = model.predict(video, noisy_audio, s, s, embeds, 24.0)
                network.set_enabled(False)
                try:
                    _, base = model.predict(video, noisy_audio, s, s, embeds, 24.0)
                finally:
                    network.set_enabled(True)
                num += (tuned - base).square().mean().item()
                den += base.square().mean().item()
    finally:
        model.transformer.train(was_training)
    return num / den


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    from conftest import tiny_config

    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built
    from jobs.process.BaseSDTrainProcess import TrainProcess
    from toolkit.configuration.loader import validate_config_data
    from toolkit.dev.synthetic_data import make_dataset

    work = Path(tempfile.mkdtemp(prefix="bench_pres_"))
    model_dir = REPO / "models" / "tiny-ltx2"
    if not is_built(model_dir):
        model_dir = build_tiny_ltx2(work / "model")
    make_dataset(work / "images", clips=0, images=4, seconds=1.0, size=64, seed=1)
    rows = []
    for mode in ("none", "silence", "base"):
        cfg = tiny_config(model_dir, work / "images", work / f"out_{mode}", name=mode, steps=args.steps,
                          **{"train.audio_preservation": mode, "train.lr": 5e-3, "datasets.0.do_audio": True,
                             "network.train_audio_modules": True, "network.linear": 16, "network.linear_alpha": 16,
                             **DRIFT_KEEPS})
        loaded = validate_config_data(cfg)
        proc = TrainProcess(loaded.job.config.process[0], mode, loaded.raw)
        proc.prepare()
        video_losses = []
        for _ in range(args.steps):
            video_losses.append(proc.train_step()["video_loss"])
            proc.step += 1
        drift = audio_drift(proc, HELD_OUT)
        rows.append((mode, drift, sum(video_losses[-10:]) / 10))
    print(f"image-only training, {args.steps} steps, tiny LTX-2, LoRA rank 16 incl. audio modules")
    print("| audio_preservation | audio drift from base (relative MSE) | final video loss (last 10) |")
    print("|---|---|---|")
    for mode, drift, vloss in rows:
        print(f"| {mode} | {drift:.4f} | {vloss:.4f} |")
    best = min(rows, key=lambda r: r[1])
    print(f"lowest drift: {best[0]} ({best[1]:.4f} vs none {rows[0][1]:.4f}, ratio {best[1] / rows[0][1]:.3f})")


if __name__ == "__main__":
    main()

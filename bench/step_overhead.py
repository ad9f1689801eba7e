"""Trainer step overhead: the full training step against a bare step, same model and batch.

In one process: the trainer's steady-state step (batch selection, collation, prompt cache,
two-timestep noising, joint forward, loss composition with the audio balancer, backward,
clipping, optimizer and schedule) against a bare forward + backward + AdamW step of the same
tiny transformer with the same LoRA on the same batch. Prints the ratio as the last line.

    .venv/bin/python bench/step_overhead.py [--steps 40]
"""

from __future__ import annotations

import argparse
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

DEFAULT_THREADS = torch.get_num_threads()  # before conftest pins tests to one thread
from conftest import copy_media, tiny_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads or DEFAULT_THREADS)

    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built
    from jobs.process.BaseSDTrainProcess import TrainProcess
    from toolkit.configuration.loader import validate_config_data
    from toolkit.dev.synthetic_data import make_dataset

    work = Path(tempfile.mkdtemp(prefix="bench_step_"))
    model_dir = REPO / "models" / "tiny-ltx2"
    if not is_built(model_dir):
        model_dir = build_tiny_ltx2(work / "model")
    make_dataset(work / "all", clips=2, images=0, seconds=2.0, size=64, seed=0)
    data = copy_media(work / "all", work / "data", ["clip_000.mp4", "clip_001.mp4"])
    cfg = tiny_config(model_dir, data, work / "out", name="bench", steps=10_000,
                      **{"datasets.0.num_frames": 17, "network.linear": 16, "network.linear_alpha": 16,
                         "logging.log_every": 10})
    loaded = validate_config_data(cfg)
    proc = TrainProcess(loaded.job.config.process[0], "bench", loaded.raw)
    proc.prepare()

    # The bare step: same transformer + LoRA, same batch, inputs prepared once.
    batch = proc.batches.build([proc.items[0]])
    model, params = proc.model, proc.network.parameters()
    from toolkit.train.optimizers import build_optimizer

    bare_opt = build_optimizer("adamw", params, 1e-4, {})  # the same (fused) AdamW the trainer builds
    sig = torch.tensor([0.5])
    nv, na = torch.randn_like(batch.video_latents), torch.randn_like(batch.audio_latents)
    noisy_v = (1 - sig) * batch.video_latents + sig * nv
    noisy_a = (1 - sig) * batch.audio_latents + sig * na
    target_v, target_a = nv - batch.video_latents, na - batch.audio_latents

    def bare_step():
        bare_opt.zero_grad(set_to_none=True)
        vp, ap = model.predict(noisy_v, noisy_a, sig, sig, batch.prompt, batch.fps)
        loss = torch.nn.functional.mse_loss(vp, target_v) + torch.nn.functional.mse_loss(ap, target_a)
        loss.backward()
        bare_opt.step()

    def trainer_step():  # one loop iteration: step + metrics/status/log bookkeeping (the parts' hooks)
        proc.train_iteration()

    proc.clock.start()

    for _ in range(args.warmup):
        bare_step()
        trainer_step()
    bare_times, trainer_times = [], []
    for _ in range(args.steps):  # interleaved, so drift hits both equally
        t0 = time.perf_counter()
        bare_step()
        t1 = time.perf_counter()
        trainer_step()
        t2 = time.perf_counter()
        bare_times.append(t1 - t0)
        trainer_times.append(t2 - t1)
    bare, trainer = statistics.median(bare_times), statistics.median(trainer_times)
    tokens = model.video_token_count(tuple(batch.video_latents.shape))
    print(f"batch: {tokens} video tokens + {batch.audio_latents.shape[1]} audio tokens, LoRA rank 16, fp32, "
          f"{torch.get_num_threads()} threads")
    print(f"bare step median    {bare * 1000:.2f} ms")
    print(f"trainer step median {trainer * 1000:.2f} ms")
    print(f"ratio trainer/bare: {trainer / bare:.3f}")


if __name__ == "__main__":
    main()

"""Host memory of a whole training run on the CPU at real width, phase by phase, beside the plan.

    python bench/run_memory.py --model DIR [--before TREE] [--size 9x64x64] [--steps 2]

`--model`: a folder written by bench/real_width_model.py (LTX-2.3 at real width, 2 blocks).
The run is `python run.py config.yaml` from this tree (and, with `--before`, from another
source tree: the trainer before the phases, e.g. `git archive <commit> | tar -x -C TREE`),
on one synthetic clip with speech (toolkit/dev/synthetic_data.py), bf16, LoRA rank 32, AdamW,
gradient checkpointing, `--steps` steps and one sampling at the end (2 denoising steps, the
clip's size). The clip is small on purpose: the VAE in bf16 is very slow on a CPU, and at
2 blocks the weights, not the activations, decide the host memory (the per-block activation
figures at real shapes are bench/real_size.py's).

Measured: the run's peak RSS (the kernel's own count, `ru_maxrss` of the child), and its RSS
sampled every 20 ms, cut into phases by the log's own timestamps (caption encoding, clip
encoding, loading the transformer and training, sampling). Printed beside it: the start-up
memory line the run itself printed (the plan's figure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# log line (start) -> the phase that begins there; the order a run prints them in
PHASE_MARKS = [
    ("loaded LTX-2 from ", "start-up (weights opened; the run before the phases loaded them all)"),
    ("caption encoding:", "captions"), ("text: ", "clips"), ("Audio latent caching:", "transformer + training"),
    ("saved ", "sampling"),
]


def config(model: Path, data: Path, out: Path, frames: int, size: int, steps: int) -> dict:
    return {"job": "extension", "config": {"name": "rss", "process": [{
        "type": "sd_trainer", "training_folder": str(out), "device": "cpu",
        "network": {"type": "lora", "linear": 32, "linear_alpha": 32},
        "train": {"steps": steps, "lr": 1e-4, "dtype": "bf16", "gradient_checkpointing": True, "seed": 0,
                  "skip_first_sample": True, "disable_sampling": False},
        "model": {"name_or_path": str(model), "arch": "ltx2.3"},
        "datasets": [{"folder_path": str(data), "resolution": [size], "num_frames": frames, "fps": 24,
                      "do_audio": True, "window_variants": 1}],
        "save": {"dtype": "bf16", "save_every": 10_000},
        "sample": {"sample_every": 10_000, "width": size, "height": size, "num_frames": frames, "sample_steps": 2,
                   "guidance_scale": 3.0, "voice_metric": False, "samples": [{"prompt": "a man says hello"}]},
        "logging": {"log_every": 1}}]}}


class Sampler:
    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        """The RSS of the run (the children of GNU time: the trainer and any decoder it starts)."""
        while not self._stop.is_set():
            try:
                rss = sum(p.memory_info().rss for p in self.process.children(recursive=True))
            except psutil.NoSuchProcess:
                rss = None
            if rss:
                self.samples.append((time.time(), rss))
            if not self.process.is_running():
                return
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()
        self._thread.join()


def phases(log: Path, samples: list[tuple[float, int]]) -> list[tuple[str, int]]:
    """(phase, peak RSS) in the order the log shows them."""
    marks = []
    for line in log.read_text().splitlines():
        stamp, _, rest = line.partition(" INFO ")
        for prefix, name in PHASE_MARKS:
            if rest.startswith(prefix) and (not marks or marks[-1][1] != name):
                marks.append((datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp(), name))
    out = []
    for index, (begin, name) in enumerate(marks):
        end = marks[index + 1][0] if index + 1 < len(marks) else float("inf")
        inside = [rss for t, rss in samples if begin <= t < end]
        if inside:
            out.append((name, max(inside)))
    return out


def run(tree: Path, cfg: dict, work: Path, label: str) -> dict:
    path = work / f"{label}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    # glibc told to give large blocks back at once, so RSS follows live tensors (bench/memory.py)
    env = {**os.environ, "PYTHONPATH": str(tree), "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    started = time.perf_counter()
    # GNU time reports the run's own peak (the kernel's ru_maxrss of that one process)
    child = subprocess.Popen(["/usr/bin/time", "-f", "MAXRSS_KB %M", sys.executable, str(tree / "run.py"), str(path)],
                             cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(child.pid)
    _, err = child.communicate()
    sampler.stop()
    if child.returncode != 0:
        raise SystemExit(f"{label}: run.py failed ({child.returncode}):\n{err[-3000:]}")
    peak = int(err.rsplit("MAXRSS_KB", 1)[1].split()[0]) * 1024
    log = Path(cfg["config"]["process"][0]["training_folder"]) / "rss" / "log.txt"
    plan = next((line.split(" INFO ", 1)[1] for line in log.read_text().splitlines() if "expected memory" in line), "")
    return {"label": label, "peak_rss": peak,
            "seconds": time.perf_counter() - started, "phases": phases(log, sampler.samples), "plan": plan}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--before", type=Path, default=None, help="another source tree, run the same way first")
    parser.add_argument("--size", default="9x64x64", help="frames x height x width of the clip and the sample")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/run_memory"))
    parser.add_argument("--plan-only", action="store_true",
                        help="print the plan's figures per phase for this run, without running it")
    args = parser.parse_args(argv)
    from toolkit.dev.synthetic_data import make_dataset

    frames, height, _ = (int(x) for x in args.size.split("x"))
    data = args.work / "data"
    make_dataset(data, clips=1, images=0, seconds=max(1.0, frames / 24 + 0.2), size=height, seed=0)
    if args.plan_only:
        return print_plan(config(args.model.resolve(), data, args.work / "plan", frames, height, args.steps))
    results = []
    for label, tree in (("before", args.before), ("after", REPO)):
        if tree is None:
            continue
        out = args.work / label
        cfg = config(args.model.resolve(), data, out, frames, height, args.steps)
        results.append(run(tree.resolve(), cfg, args.work, label))
        row = results[-1]
        print(f"{label}: peak RSS {row['peak_rss'] / 2**30:.2f} GiB in {row['seconds']:.0f} s; the run's plan: "
              f"{row['plan']}", flush=True)
        for name, peak in row["phases"]:
            print(f"    {name:<28} {peak / 2**30:6.2f} GiB", flush=True)
    (args.work / "results.json").write_text(json.dumps(results, indent=1))
    return 0


def print_plan(cfg: dict) -> int:
    """The start-up plan of this run on the CPU, phase by phase: what its parts hold (on a CPU
    the device is the host, so each phase's figure is its device and host parts together) and,
    apart, the plan's allowance for the process itself (Python, torch and, on a GPU, CUDA's
    libraries: an allowance, not a count)."""
    import torch

    from toolkit.configuration.loader import validate_config_data
    from toolkit.memory.plan.host import RUNTIME_BYTES
    from toolkit.memory.startup import plan

    resolved = plan(validate_config_data(cfg).job.config.process[0], torch.device("cpu")).resolved
    print(f"plan for {cfg['config']['process'][0]['model']['name_or_path']}: sizes {resolved.sizes}")
    for phase in resolved.memory.phases:
        parts = phase.device_total + phase.host_total - phase.host.get("process", 0.0) - phase.host.get(
            "process (Python, torch, CUDA libraries)", 0.0)
        print(f"    {phase.name:<12} {parts / 2**30:6.2f} GiB (+ the process allowance {RUNTIME_BYTES / 2**30:.1f} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fault suite: kill the trainer at seeded random moments, resume, compare with a clean run.

Each trial starts a fresh run (fresh output folder and a fresh latent cache, so caching is
part of it) with `run.py` in a child process and sends SIGKILL, SIGINT or SIGTERM at a
seeded random moment: a phase is drawn (loading, caching, training, which holds the steps
and the checkpoint saves, sampling, or the final sampling after the final save) and the
signal goes a random delay after status.json enters it. Then the same command runs again
until the run is done. A trial survives when every restart resumes and the run finishes
(exit 0) with all its samples (every `sample_every` step and the final one). The final LoRA
of each trial is compared with an uninterrupted run of the same config: the goal is every
trial survived and a difference of 0.

    .venv/bin/python bench/faults.py [--trials 8] [--kills 1] [--seed 0]

The last line prints the figures recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from conftest import copy_media, tiny_config  # noqa: E402

SIGNALS = (signal.SIGKILL, signal.SIGINT, signal.SIGTERM)
# status.json phases a signal is aimed at, and how far into each (seconds, drawn uniformly):
# "training" covers the steps and the checkpoint saves (every 2 steps) between them;
# "final sampling" is the sampling after the final LoRA is saved (a signal there stops at once).
PHASES = ("loading", "caching", "training", "sampling", "final sampling")
PHASE_SPREAD_S = {"loading": 3.0, "caching": 4.0, "training": 4.0, "sampling": 1.0, "final sampling": 0.5}
# What a signalled run may exit with: the clean-stop codes, 0 when it finished first, or the
# signal itself (SIGKILL always; SIGINT/SIGTERM before the handlers are set or while Python
# shuts down). What counts is that the next start resumes and ends with the same LoRA.
STOPPED_CODES = {0, 130, 143, -signal.SIGKILL, -signal.SIGINT, -signal.SIGTERM}
SAMPLE_EVERY = 4


def _config(model_dir: Path, data: Path, out: Path, steps: int) -> dict:
    return tiny_config(model_dir, data, out, name="fault", steps=steps, **{
        "save.save_every": 2, "save.max_step_saves_to_keep": 2,
        "datasets.0.cache_latents_to_disk": True,
        "train.disable_sampling": False, "sample.sample_every": SAMPLE_EVERY,
        "train.lr": 5e-3, "network.rank_dropout": 0.1,
    })


def _run(config_path: Path, log: Path, target: str | None = None, delay: float = 0.0,
         signum: int = signal.SIGKILL):
    """Start run.py; with `target`, send `signum` `delay` seconds after status.json first
    shows that phase. Returns (exit code, the phase when the signal was sent, or None when
    the run ended first)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log, "a") as out:
        proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), str(config_path)], cwd=REPO, env=env,
                                stdout=out, stderr=out)
        phase = None
        if target is not None:
            seen_at = None
            while proc.poll() is None:
                now = time.monotonic()
                if seen_at is None and _phase(config_path) == target:
                    seen_at = now
                if seen_at is not None and now - seen_at >= delay:
                    phase = _phase(config_path)
                    proc.send_signal(signum)
                    break
                time.sleep(0.02)
        code = proc.wait(timeout=900)
    return code, phase


def _phase(config_path: Path) -> str:
    status = config_path.parent / "out" / "fault" / "status.json"
    try:
        found = json.loads(status.read_text())
        state = found["state"]
    except (OSError, ValueError, KeyError, TypeError):
        return "starting"
    if state == "sampling" and found.get("step") and found.get("step") == found.get("total"):
        return "final sampling"
    return state


def _final_lora(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "out" / "fault" / "fault.safetensors"))


def _missing_samples(folder: Path, steps: int) -> list[str]:
    """The run's samples that are not there: every `sample_every` step and the final one (a
    stop during the final sampling must have them rendered by the next start)."""
    due = sorted(set(range(SAMPLE_EVERY, steps + 1, SAMPLE_EVERY)) | {steps})
    samples = folder / "out" / "fault" / "samples"
    return [f"{step:09d}_00.mp4" for step in due if not (samples / f"{step:09d}_00.mp4").is_file()]


def _trial_dir(work: Path, name: str, data: Path, model_dir: Path, steps: int) -> Path:
    """One trial's folder. Every trial reads the same dataset folder (window positions are
    drawn from the clip's path, so another path would train other windows) with its latent
    cache removed, so caching is part of each trial."""
    import yaml

    trial = work / name
    trial.mkdir(parents=True)
    shutil.rmtree(data / "_latent_cache", ignore_errors=True)
    (trial / "fault.yaml").write_text(yaml.safe_dump(_config(model_dir, data, trial / "out", steps)))
    return trial


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--kills", type=int, default=1, help="signals per trial, each followed by a resume")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built
    from toolkit.dev.synthetic_data import make_dataset

    work = Path(tempfile.mkdtemp(prefix="bench_faults_"))
    model_dir = REPO / "models" / "tiny-ltx2"
    if not is_built(model_dir):
        model_dir = build_tiny_ltx2(work / "model")
    source = REPO / "data" / "synthetic"
    if not (source / ".complete").exists():
        make_dataset(work / "all", clips=2, images=0, seconds=2.0, size=64, seed=0)
        source = work / "all"

    data = copy_media(source, work / "data", ["clip_000.mp4", "clip_001.mp4"])
    reference = _trial_dir(work, "reference", data, model_dir, args.steps)
    started = time.perf_counter()
    code, _ = _run(reference / "fault.yaml", reference / "log.txt")
    duration = time.perf_counter() - started
    if code != 0:
        sys.exit(f"the uninterrupted run failed (exit {code}); see {reference / 'log.txt'}")
    expected = _final_lora(reference)
    print(f"uninterrupted run: {duration:.1f} s")

    rng = random.Random(args.seed)
    survived, worst, phases = 0, 0.0, {}
    for index in range(args.trials):
        trial = _trial_dir(work, f"trial_{index:02d}", data, model_dir, args.steps)
        ok, events = True, []
        for _ in range(args.kills):
            signum, target = rng.choice(SIGNALS), rng.choice(PHASES)
            delay = rng.uniform(0.0, PHASE_SPREAD_S[target])
            code, phase = _run(trial / "fault.yaml", trial / "log.txt", target, delay, signum)
            events.append(f"{signal.Signals(signum).name}@{target}+{delay:.1f}s(in {phase or 'none: ended'})->{code}")
            if phase:
                phases[phase] = phases.get(phase, 0) + 1
            ok &= code in STOPPED_CODES
        for _ in range(3):  # resume until done (a run stopped at its end is done at once)
            code, _ = _run(trial / "fault.yaml", trial / "log.txt")
            if code != 0 or json.loads((trial / "out" / "fault" / "status.json").read_text())["state"] == "done":
                break
        ok &= code == 0
        missing = _missing_samples(trial, args.steps) if ok else []
        ok &= not missing
        diff = float("nan")
        if ok:
            got = _final_lora(trial)
            diff = max((got[k].double() - expected[k].double()).abs().max().item() for k in expected) \
                if set(got) == set(expected) else float("inf")
            worst = max(worst, diff)
            survived += 1
        print(f"trial {index}: {' '.join(events)}; resumed -> {code}; "
              f"{'survived' if ok else 'FAILED'}; max |diff| {diff:.3g}"
              + (f"; samples missing: {', '.join(missing)}" if missing else ""))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work folder: {work}")
    where = ", ".join(f"{k} {v}" for k, v in sorted(phases.items()))
    print(f"faults: {survived}/{args.trials} survived ({args.kills} signal(s) each; signals landed in: {where}); "
          f"max |difference| to the uninterrupted run: {worst:.3g}")


if __name__ == "__main__":
    main()

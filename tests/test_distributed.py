"""Data parallel and a sharded base on CPU: two processes under `accelerate launch` (gloo).

One scenario, run once per module (about a minute on 2 cores):
1. two processes, batch 1 each, on a fresh dataset folder (the ranks fill the latent cache
   between them), many steps; SIGINT to the launcher after a few steps: every rank stops,
   the checkpoint is whole;
2. the same config again with `steps` = the stopped step + 2: every rank resumes and finishes;
3. one process, batch 2, the same steps (in this process): the reference LoRA;
4. two processes with model.fsdp (sharded base), batch 1 each, from scratch;
5. two processes where rank 1 alone gets a NaN loss at step 2: both skip that step;
6. (3) and (4) again on the tiny LTX-2.3 model, 2 steps (its gated attention, prompt AdaLN and
   per-modality connector projections sharded too).
(2) and (4) must match (3): N ranks x batch 1 == one process x batch N; (6) likewise.
Every run draws the per-item modes of issue 27 too (do_i2v 0.5, video-to-audio and
audio-to-video shares, drawn after the sigmas and noise for the global batch) and trains the
audio side in its own optimizer group (train.audio_lr), so those hold across ranks as well.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, copy_media, run_config, tiny_config

LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
TOLERANCE = 1e-4  # float sums in another order (two processes' gradients averaged)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(cfg: dict, path: Path, script: Path = REPO / "run.py", **env_extra) -> subprocess.Popen:
    path.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(env_extra)
    command = LAUNCH + ["--main_process_port", str(free_port()), str(script), str(path)]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 900) -> str:
    # only a guard against a hung launcher: a busy 2-core machine or a slow CPU code path
    # (make test-numerics) takes minutes
    out, _ = proc.communicate(timeout=timeout)
    return out


def config(model, data, out, name, steps, **overrides) -> dict:
    settings = {"train.batch_size": 1, "datasets.0.do_audio": True, "datasets.0.cache_latents_to_disk": True,
                "network.rank_dropout": 0.0, "datasets.0.caption_dropout_rate": 0.0, "save.save_every": 1000,
                "datasets.0.do_i2v": 0.5, "train.video_to_audio_probability": 0.25,
                "train.audio_to_video_probability": 0.25, "train.audio_lr": 1e-3}
    settings.update(overrides)
    return tiny_config(model, data, out, name=name, steps=steps, **settings)


def lora(folder: Path, name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / f"{name}.safetensors"))


def max_difference(a: dict, b: dict) -> float:
    assert set(a) == set(b)
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def scenario(tiny_model_dir, tiny_version_dir, synthetic_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    data = copy_media(synthetic_dir, root / "data", ["clip_000.mp4", "clip_001.mp4"])
    out = root / "out"
    result = {"root": root, "out": out}

    # 1. two ranks, stopped by SIGINT to the launcher
    cfg = config(tiny_model_dir, data, out, "dp", steps=1000)
    proc = launch(cfg, root / "dp.yaml")
    metrics = out / "dp" / "metrics.jsonl"
    deadline = time.monotonic() + 600  # generous: a slow or busy CPU must not stop it before it trains
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, finish(proc)
    proc.send_signal(signal.SIGINT)
    result["stop_output"] = finish(proc)
    result["stop_code"] = proc.returncode
    status = json.loads((out / "dp" / "status.json").read_text())
    result["stop_status"] = status
    result["stop_metrics"] = [json.loads(line) for line in metrics.read_text().splitlines()]
    result["stop_log"] = (out / "dp" / "log.txt").read_text()
    stopped = status["step"]
    total = stopped + 2
    result["total"] = total

    # 2. the same run again, to stopped + 2 steps: resumes on every rank
    cfg = config(tiny_model_dir, data, out, "dp", steps=total)
    proc = launch(cfg, root / "dp.yaml")
    result["resume_output"] = finish(proc)
    result["resume_code"] = proc.returncode

    # 3. the reference: one process, batch 2 (cache hits: the same latents)
    result["reference"] = run_config(config(tiny_model_dir, data, out, "one", steps=total, **{"train.batch_size": 2}))

    # 4. two ranks with a sharded base (FSDP2), from scratch
    cfg = config(tiny_model_dir, data, out, "fsdp", steps=total, **{"model.fsdp": True})
    proc = launch(cfg, root / "fsdp.yaml")
    output = finish(proc)
    result["fsdp"] = {"2.0": ("fsdp", "one", total, proc.returncode, output)}

    # 5. a NaN loss on rank 1 only, at step 2 (tests/dist_nan_run.py injects it)
    nan_out = root / "nan_sums"
    nan_out.mkdir()
    cfg = config(tiny_model_dir, data, out, "nan", steps=3)
    proc = launch(cfg, root / "nan.yaml", script=REPO / "tests" / "dist_nan_run.py", NAN_TEST_OUT=str(nan_out))
    result["nan_output"] = finish(proc)
    result["nan_code"] = proc.returncode
    result["nan_sums"] = nan_out

    # 6. LTX-2.3: one process with batch 2, then two ranks with a sharded base
    model_23 = tiny_version_dir("2.3")
    run_config(config(model_23, data, out, "one23", steps=2, **{"train.batch_size": 2, "model.arch": "ltx2.3"}))
    cfg = config(model_23, data, out, "fsdp23", steps=2, **{"model.fsdp": True, "model.arch": "ltx2.3"})
    proc = launch(cfg, root / "fsdp23.yaml")
    output = finish(proc)
    result["fsdp"]["2.3"] = ("fsdp23", "one23", 2, proc.returncode, output)
    return result


def test_sigint_to_the_launcher_stops_every_rank_with_a_whole_checkpoint(scenario):
    out = scenario["out"] / "dp"
    assert scenario["stop_code"] is not None, scenario["stop_output"]
    status, step = scenario["stop_status"], scenario["stop_status"]["step"]
    assert status["state"] == "stopped", scenario["stop_output"]
    assert step >= 2
    assert (out / f"dp_{step:09d}.safetensors").is_file()
    state = torch.load(out / f"dp_{step:09d}.state.pt", weights_only=False)
    assert state["step"] == step and state["world_size"] == 2
    assert "SIGINT received: saving at step" in scenario["stop_log"]
    assert not list(out.glob(".*.tmp")), "no half-written file"
    output = scenario["stop_output"]
    # Both workers finished on their own: none was killed after the launcher's grace period,
    # none left by KeyboardInterrupt or an error. The one traceback is the launcher's own:
    # torchrun's agent re-raises the signal it forwarded (SignalException), exit code 1.
    assert "forcefully exiting" not in output and "interrupted" not in output and "error:" not in output, output
    assert output.count("Traceback") == 1 and "SignalException" in output, output


def test_ranks_split_the_cache_and_only_rank_0_writes(scenario):
    log = scenario["stop_log"]
    # 2 clips x 5 windows x 2 sets of window positions = 20 cached items
    split = "latent cache filled by 2 processes: 10 + 10 items (rank 0 first; 0 of them were cached already)"
    assert split in log, log
    assert "20 of 20 items read from the cache" in log, "every rank loads every item from the cache the ranks filled"
    records = scenario["stop_metrics"]
    steps = [r["step"] for r in records]
    assert steps == list(range(1, len(steps) + 1)), "one metrics line per step: rank 1 writes none"
    assert records[0]["batch_items"] == 2, "metrics count the global batch"
    assert log.count("loaded LTX-2 from") == 1 and log.count("SIGINT received") == 1


@pytest.mark.numerics
def test_resumed_two_ranks_match_one_process_with_the_global_batch(scenario):
    assert scenario["resume_code"] == 0, scenario["resume_output"]
    out = scenario["out"]
    total = scenario["total"]
    log = (out / "dp" / "log.txt").read_text()
    assert f"resuming from step {total - 2}" in log
    status = json.loads((out / "dp" / "status.json").read_text())
    assert status["state"] == "done" and status["step"] == total
    assert max_difference(lora(out / "dp", "dp"), lora(out / "one", "one")) < TOLERANCE


@pytest.mark.parametrize("version", ["2.0", "2.3"])
def test_sharded_base_matches_one_process(scenario, version):
    name, reference, steps, code, output = scenario["fsdp"][version]
    assert code == 0, output
    out = scenario["out"]
    log = (out / name / "log.txt").read_text()
    assert "base sharded (FSDP)" in log
    assert f"version {version}," in log
    state = torch.load(out / name / f"{name}_{steps:09d}.state.pt", weights_only=False)
    assert state["optimizer_layout"] == "sharded" and state["optimizer"]["state"], "whole optimizer state saved"
    assert max_difference(lora(out / name, name), lora(out / reference, reference)) < TOLERANCE


def test_non_finite_loss_on_one_rank_makes_every_rank_skip(scenario):
    assert scenario["nan_code"] == 0, scenario["nan_output"]
    folder = scenario["out"] / "nan"
    records = {r["step"]: r for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines())}
    assert records[2].get("skipped") == 1 and records[2]["loss"] is None
    assert "skipped" not in records[1] and "skipped" not in records[3]
    assert json.loads((folder / "status.json").read_text())["skipped_steps"] == 1
    sums = [(scenario["nan_sums"] / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert sums[0] == sums[1], "both ranks skipped the same step: their networks are identical"
    assert "[rank 1] warning: step 2: non-finite loss, step skipped" in scenario["nan_output"]


def test_fsdp_refuses_quantized_or_offloaded_bases(tiny_model_dir, tmp_path):
    from toolkit.configuration.loader import ConfigValidationError, validate_config_data

    cfg = config(tiny_model_dir, tmp_path, tmp_path / "out", "x", steps=1,
                 **{"model.fsdp": True, "model.quantize": True})
    with pytest.raises(ConfigValidationError, match="fsdp cannot be combined with model.quantize"):
        validate_config_data(cfg)


def test_global_batches_are_filled_so_every_rank_gets_a_full_slice():
    from toolkit.train.batching import BucketBatchSampler

    class Item:
        def bucket_key(self):
            return (1,)

    items = [Item() for _ in range(5)]
    sampler = BucketBatchSampler(items, 4, seed=0, fill_last=True)
    batches = [sampler.next_batch() for _ in range(2)]
    assert [len(b) for b in batches] == [4, 4]
    assert {id(i) for b in batches for i in b} == {id(i) for i in items}

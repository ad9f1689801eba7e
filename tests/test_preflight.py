"""Fail before the slow part: what the machine and the files must provide is checked by
--validate and at start-up, before any model is loaded or any clip cached; and
lr_warmup_steps ramps up under every schedule."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_config

import run
from toolkit.train.optimizer_rules import SCHEDULER_PARAMS
from toolkit.train.optimizers import build_scheduler

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def validate(path: Path, capsys) -> tuple[int, dict]:
    code = run.main(["--validate", "--json", str(path)])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed here")
def test_adamw8bit_without_bitsandbytes_fails_validate_and_start_up_before_caching(
        tiny_model_dir, clip_data, tmp_path, capsys):
    data = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", **{
        "train.optimizer": "adamw8bit", "datasets.0.cache_latents_to_disk": True})
    path = write_config(tmp_path, data)
    code, report = validate(path, capsys)
    assert code == 2 and report["ok"] is False
    (issue,) = report["issues"]
    assert issue["path"] == "config.process[0].train.optimizer"
    assert "bitsandbytes" in issue["message"] and "optimizer: adamw" in issue["message"]
    # A run stops before the trainer, torch or the model is imported: within a second.
    probe = "import sys, run; code = run.main([sys.argv[1]]); print(code, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe, str(path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.split() == ["2", "False"], result.stderr
    assert "bitsandbytes" in result.stderr
    assert not list(clip_data.rglob("_latent_cache")) and not (tmp_path / "out").exists()


def test_optimizer_params_the_optimizer_refuses_stop_the_run_before_caching(
        tiny_model_dir, clip_data, tmp_path, capsys):
    data = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", **{
        "train.optimizer_params": {"weight_decay": 1e-4, "betaz": 0.9}, "datasets.0.cache_latents_to_disk": True})
    assert run.main([write_config(tmp_path, data).as_posix()]) == 2
    err = capsys.readouterr().err
    assert "train.optimizer" in err and "betaz" in err
    assert not list(clip_data.rglob("_latent_cache"))
    status = json.loads((tmp_path / "out" / "t" / "status.json").read_text())
    assert status["state"] == "error" and "betaz" in status["error"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_validate_lists_several_problems_one_per_line_as_start_up_does(tiny_model_dir, clip_data, tmp_path, capsys):
    data = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", device="cuda:0")
    data["config"]["process"][0]["model"]["name_or_path"] = str(tmp_path / "no-model")
    path = write_config(tmp_path, data)
    assert run.main(["--validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"error: {path}: 2 problems:"
    assert [line.split(":")[0] for line in lines[1:3]] == ["  - config.process[0].device",
                                                           "  - config.process[0].model.name_or_path"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_missing_gpu_is_a_validate_error(tiny_model_dir, clip_data, tmp_path, capsys):
    data = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", device="cuda:0")
    code, report = validate(write_config(tmp_path, data), capsys)
    assert code == 2
    assert [i["path"] for i in report["issues"]] == ["config.process[0].device"]
    assert "no usable CUDA GPU" in report["issues"][0]["message"]


def test_incomplete_model_folder_and_bad_schedule_params_are_validate_errors(clip_data, tmp_path, capsys):
    model = tmp_path / "half-model"
    for sub in ("transformer", "text_encoder", "tokenizer", "scheduler", "connectors"):
        (model / sub).mkdir(parents=True)
    data = tiny_config(model, clip_data, tmp_path / "out", **{
        "train.lr_scheduler": "linear", "train.lr_scheduler_params": {"eta_min": 1e-6}})
    code, report = validate(write_config(tmp_path, data), capsys)
    assert code == 2
    by_path = {i["path"]: i["message"] for i in report["issues"]}
    assert set(by_path) == {"config.process[0].model.name_or_path", "config.process[0].train.lr_scheduler_params"}
    assert "vae/, audio_vae/, vocoder/" in by_path["config.process[0].model.name_or_path"]
    assert "end_factor" in by_path["config.process[0].train.lr_scheduler_params"]


def test_complete_tiny_model_validates(tiny_model_dir, clip_data, tmp_path, capsys):
    code, report = validate(write_config(tmp_path, tiny_config(tiny_model_dir, clip_data, tmp_path)), capsys)
    assert (code, report["issues"]) == (0, [])


@pytest.mark.parametrize("name", sorted(SCHEDULER_PARAMS))
def test_warmup_ramps_up_under_every_schedule(name):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=2.0)
    scheduler = build_scheduler(name, optimizer, total_steps=20, warmup_steps=4, params={})
    curve = []
    for _ in range(8):
        curve.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert curve[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])  # lr/warmup, ..., lr
    assert all(lr <= 2.0 + 1e-12 for lr in curve[4:])
    if name.startswith("constant"):
        assert curve[4:] == pytest.approx([2.0] * 4)

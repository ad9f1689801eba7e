"""Per-modality control and validation in whole runs (issue 27, items 4-5): `train.audio_lr`
is its own optimizer group, saved and resumed; `network.audio_linear` gives the audio side
its own rank in files that ComfyUI and diffusers read; validation loss per modality at fixed
sigmas and noise goes to metrics.jsonl, status.json and the log, draws nothing from the run's
generator, and keeps `<name>_best_val.safetensors`; the voice metric keeps
`<name>_best_voice.safetensors` and warns when the voice drifts. A run with every new option
on (audio files, do_i2v 0.5, a video-to-audio share, the audio quota, audio_lr, audio rank,
validation) stopped and resumed ends where the uninterrupted run ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import copy_media, run_config, tiny_config
from dataset_helpers import audio_file
from network_helpers import load_transformer, perturb_adapters, transformer_inputs
from safetensors import safe_open
from safetensors.torch import load_file
from test_checkpoints import StopAfter

import jobs.process.BaseSDTrainProcess as process_module
from toolkit.errors import Interrupted
from toolkit.lora.network import ADAPTER_NAME, Network, NetworkSettings, is_audio_module
from toolkit.run.checkpoint import load_state

EVERYTHING = {
    "datasets.0.do_i2v": 0.5, "datasets.0.window_variants": 1, "datasets.0.cache_latents_to_disk": True,
    "train.video_to_audio_probability": 0.3, "train.audio_batch_min_ratio": 0.5,
    "train.lr": 1e-3, "train.audio_lr": 3e-3, "network.audio_linear": 4, "network.rank_dropout": 0.1,
    "train.validate_every": 2, "save.save_every": 2, "logging.log_every": 1,
}


@pytest.fixture(scope="module")
def data(synthetic_dir, tmp_path_factory):
    """(training folder: a clip with speech and an audio file; held-out folder: the same kinds)."""
    root = tmp_path_factory.mktemp("control")
    train = copy_media(synthetic_dir, root / "train", ["clip_000.mp4"])
    audio_file(synthetic_dir / "clip_001.mp4", train / "line_a.wav", "a voice says a line")
    held = copy_media(synthetic_dir, root / "held", ["clip_002.mp4"])
    audio_file(synthetic_dir / "clip_003.mp4", held / "line_c.ogg", "a voice says a third line")
    return train, held


def config(model_dir, data, out: Path, validation: bool = True, **extra) -> dict:
    train, held = data
    held_out = [{"folder_path": str(held), "resolution": [64], "num_frames": 9, "fps": 24, "window_variants": 1,
                 "cache_latents_to_disk": True}]
    return tiny_config(model_dir, train, out, name="ctl", steps=6,
                       **{**EVERYTHING, **({"validation_datasets": held_out} if validation else {}), **extra})


@pytest.fixture(scope="module")
def runs(tiny_model_dir, data, tmp_path_factory):
    """straight: 6 steps; resumed: the same config stopped after step 3 and run again;
    without_validation: the same run without validation_datasets."""
    root = tmp_path_factory.mktemp("runs")
    straight = run_config(config(tiny_model_dir, data, root / "a"))
    cfg = config(tiny_model_dir, data, root / "b")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(process_module, "StopRequest", type("StopAt3", (StopAfter,), {"n": 3}))
        with pytest.raises(Interrupted):
            run_config(cfg)
    resumed = run_config(cfg)
    without = run_config(config(tiny_model_dir, data, root / "c", validation=False))
    return {"straight": straight, "resumed": resumed, "without_validation": without}


def rows(proc) -> list[dict]:
    return [json.loads(line) for line in (proc.out.folder / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.numerics
def test_a_resumed_run_with_every_new_option_ends_where_the_straight_run_ends(runs):
    straight, resumed = runs["straight"], runs["resumed"]
    assert "resuming from step 3" in (resumed.out.folder / "log.txt").read_text()
    for name in ("ctl.safetensors", "ctl_best_val.safetensors"):
        a, b = load_file(str(straight.out.folder / name)), load_file(str(resumed.out.folder / name))
        assert set(a) == set(b)
        worst = max((a[k] - b[k]).abs().max().item() for k in a)
        assert worst < 1e-5, (name, worst)
    val = [{k: r[k] for k in ("step", "val_video_loss", "val_audio_loss")} for r in rows(straight) if "val_loss" in r]
    again = [{k: r[k] for k in ("step", "val_video_loss", "val_audio_loss")} for r in rows(resumed) if "val_loss" in r]
    assert [r["step"] for r in val] == [0, 2, 4, 6] and [r["step"] for r in again] == [0, 2, 4, 6]
    for a, b in zip(val, again, strict=True):
        assert abs(a["val_video_loss"] - b["val_video_loss"]) < 1e-5 and abs(a["val_audio_loss"] - b["val_audio_loss"]) < 1e-5
    trained = [r for r in rows(straight) if "loss" in r]
    assert any(r.get("v2a_items") for r in trained) and any(r.get("audio_only_items") for r in trained)
    assert sum(r["audio_supervised_items"] > 0 for r in trained) >= 3, "the quota: at least half the batches voiced"
    state = load_state(resumed.out.folder / "ctl_000000006.state.pt")
    assert state["sampler"]["quota_drawn"] == 6 and state["validation"]["tracker"]["best"]


def test_validation_draws_nothing_from_the_run(runs):
    a = load_file(str(runs["straight"].out.folder / "ctl.safetensors"))
    c = load_file(str(runs["without_validation"].out.folder / "ctl.safetensors"))
    assert all(torch.equal(a[k], c[k]) for k in a), "the same LoRA with and without validation"
    assert not any("val_loss" in r for r in rows(runs["without_validation"]))


def test_validation_reaches_metrics_status_log_and_the_best_val_file(runs):
    proc = runs["straight"]
    folder = proc.out.folder
    status = json.loads((folder / "status.json").read_text())
    history = status["validation"]["history"]
    assert [h["step"] for h in history] == [0, 2, 4, 6] and status["validation"]["criterion"] == "val_audio_loss"
    assert status["validation"]["items"] == 10  # 5 windows of the held-out clip, 5 of its audio file
    best = status["best"]["val_audio_loss"]
    assert best["value"] == min(h["audio"] for h in history) and best["file"] == "ctl_best_val.safetensors"
    assert status["best"]["val_video_loss"]["value"] == min(h["video"] for h in history)
    assert history[-1]["audio"] < history[0]["audio"], "training on the voice lowers the held-out audio loss"
    with safe_open(str(folder / "ctl_best_val.safetensors"), "pt") as handle:
        assert handle.metadata()["ltx2_trainer.step"] == str(best["step"])
    if best["step"] in (2, 4, 6):  # the step's checkpoint holds the same weights
        kept = load_file(str(folder / f"ctl_{best['step']:09d}.safetensors"))
        saved = load_file(str(folder / "ctl_best_val.safetensors"))
        assert all(torch.equal(kept[k], saved[k]) for k in kept)
    log = (folder / "log.txt").read_text()
    assert log.count("validation at step ") == 4 and "held-out items at sigmas 0.1, 0.3, 0.5, 0.7, 0.9" in log
    assert f"best step by validation audio loss (lowest): {best['step']}" in log


def test_audio_lr_is_its_own_group_in_the_optimizer_metrics_and_state(runs):
    proc = runs["resumed"]
    groups = proc.optimizer.param_groups
    assert [g["name"] for g in groups] == ["video", "audio"]
    assert groups[0]["lr"] == pytest.approx(1e-3) and groups[1]["lr"] == pytest.approx(3e-3)
    audio_ids = {id(p) for p in groups[1]["params"]}
    named = {id(p): n for n, p in proc.model.transformer.named_parameters()}
    assert audio_ids and all(is_audio_module(named[i]) for i in audio_ids)
    assert not any(is_audio_module(named[id(p)]) for p in groups[0]["params"] if id(p) in named)
    trained = [r for r in rows(proc) if "loss" in r]
    assert all(r["audio_lr"] == pytest.approx(3e-3) and r["lr"] == pytest.approx(1e-3) for r in trained)
    state = load_state(proc.out.folder / "ctl_000000006.state.pt")
    assert [g["lr"] for g in state["optimizer"]["param_groups"]] == pytest.approx([1e-3, 3e-3])
    assert "optimizer groups: video and the rest" in (proc.out.folder / "log.txt").read_text()


def test_best_voice_file_and_the_drift_warning(runs, caplog):
    """The voice metric's hook (fed by hand here: the tiny model's samples carry no voice)."""
    proc = runs["without_validation"]
    folder = proc.out.folder
    with torch.no_grad():
        for similarity, loss in ((0.60, 1.0), (0.55, 0.9), (0.50, 0.8), (0.45, 0.7)):
            proc.validation.best.note_training_loss(loss)
            proc.step += 1
            perturb_adapters(proc.model.transformer, scale=0.01, seed=proc.step)
            proc.validation.voice_scored(proc.step, similarity)
    with safe_open(str(folder / "ctl_best_voice.safetensors"), "pt") as handle:
        assert handle.metadata()["ltx2_trainer.step"] == "7" and handle.metadata()["ltx2_trainer.best"] == "best_voice"
    warnings = [r.getMessage() for r in caplog.records if "voice similarity fell" in r.getMessage()]
    assert len(warnings) == 1 and "at 3 samplings in a row (steps 7, 8, 9, 10" in warnings[0]
    assert "its weights are in ctl_best_voice.safetensors" in warnings[0]
    status = json.loads((folder / "status.json").read_text())
    assert status["best"]["voice_similarity"]["step"] == 7


@pytest.mark.parametrize("fmt", ["comfyui", "diffusers"])
def test_an_audio_rank_file_loads_in_diffusers_and_comfyui(tiny_model_dir, tmp_path, fmt):
    from diffusers import LTX2Pipeline

    transformer = load_transformer(tiny_model_dir)
    settings = NetworkSettings(rank=4, alpha=8.0, audio_rank=2, audio_alpha=2.0)
    network = Network(transformer, settings)
    audio_layer = transformer.transformer_blocks[0].audio_attn1.to_q
    video_layer = transformer.transformer_blocks[0].attn1.to_q
    assert audio_layer.lora_A[ADAPTER_NAME].weight.shape[0] == 2 and video_layer.lora_A[ADAPTER_NAME].weight.shape[0] == 4
    assert audio_layer.scaling[ADAPTER_NAME] == 1.0 and video_layer.scaling[ADAPTER_NAME] == 2.0
    perturb_adapters(transformer, scale=0.1)
    transformer.eval()
    with torch.no_grad():
        ours = transformer(**transformer_inputs(torch.float32))
    path = network.save(tmp_path / "net.safetensors", fmt=fmt, dtype=torch.float32)
    saved = load_file(str(path))

    # ComfyUI: each layer's update is up @ down of its own shapes, alpha folded (scale 1).
    for layer, name in ((audio_layer, "audio_attn1"), (video_layer, "attn1")):
        down = next(v for k, v in saved.items() if f"blocks.0.{name}.to_q.lora_A" in k)
        up = next(v for k, v in saved.items() if f"blocks.0.{name}.to_q.lora_B" in k)
        expected = layer.scaling[ADAPTER_NAME] * layer.lora_B[ADAPTER_NAME].weight @ layer.lora_A[ADAPTER_NAME].weight
        assert torch.allclose(up @ down, expected, atol=1e-6), name

    pipe = LTX2Pipeline.from_pretrained(str(tiny_model_dir))
    pipe.load_lora_weights(str(path))
    pipe.transformer.eval()
    with torch.no_grad():
        loaded = pipe.transformer(**transformer_inputs(torch.float32))
    for a, b in zip(loaded, ours, strict=True):
        assert (a - b).abs().max() <= 1e-4
    fresh = load_transformer(tiny_model_dir)
    Network(fresh, settings).load_file(path)
    fresh.eval()
    with torch.no_grad():
        again = fresh(**transformer_inputs(torch.float32))
    for a, b in zip(again, ours, strict=True):
        assert (a - b).abs().max() <= 1e-5

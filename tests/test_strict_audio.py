"""Strict audio mode: counts only items that should carry a voice, decides as soon as the
cached items show the share is too low, and leaves the reason in log.txt and status.json."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import copy_media, prepared, run_config, tiny_config
from test_media_factory import grey_frames, write_media

from toolkit.errors import RunFailed

STRICT = {"train.strict_audio_mode": True, "train.strict_audio_min_supervised_ratio": 0.9}


def status_of(folder) -> dict:
    return json.loads((folder / "status.json").read_text(encoding="utf-8"))


def test_too_little_voice_stops_after_caching_before_any_step(tiny_model_dir, synthetic_dir, tmp_path):
    data = copy_media(synthetic_dir, tmp_path / "d", ["clip_000.mp4"])
    for i in range(3):  # audio tracks of digital silence: clips that look like they speak but do not
        write_media(data / f"silent_{i}.mp4", frames=grey_frames(24, 64, 64), audio=np.zeros(44100, np.float32))
        (data / f"silent_{i}.txt").write_text("a silent clip")
    cfg = tiny_config(tiny_model_dir, data, tmp_path / "out", name="early", steps=40,
                      **STRICT, **{"train.strict_audio_warmup_steps": 50, "datasets.0.window_variants": 1})
    with pytest.raises(RunFailed) as info:
        run_config(cfg)
    message = str(info.value)
    assert info.value.exit_code == 1
    assert "after caching" in message and "before training" in message and "minimum 90%" in message
    assert all(f"silent_{i}.mp4 (silent audio track)" in message for i in range(3)), message
    assert "clip_000.mp4" not in message and "dataset_problems.txt" in message
    folder = tmp_path / "out" / "early"
    assert not list(folder.glob("*.safetensors")) and not (folder / "metrics.jsonl").exists()  # no step trained
    status = status_of(folder)
    assert status["state"] == "error" and status["step"] == 0 and "strict audio mode" in status["error"]
    assert status["last_checkpoint"] is None
    assert "error: strict audio mode: only" in (folder / "log.txt").read_text(encoding="utf-8")


def test_character_preset_with_images_and_video_only_clips_is_never_stopped(tiny_model_dir, synthetic_dir, tmp_path):
    clips = copy_media(synthetic_dir, tmp_path / "clips", ["clip_000.mp4", "clip_001.mp4"])
    images = copy_media(synthetic_dir, tmp_path / "images", ["image_000.png", "image_001.png"])
    video_only = copy_media(synthetic_dir, tmp_path / "vonly", ["clip_002.mp4"])
    datasets = [
        {"folder_path": str(clips), "resolution": [64], "num_frames": 9, "fps": 24, "do_audio": True,
         "window_variants": 1},
        {"folder_path": str(images), "resolution": [64]},  # images: num_frames 1, no audio expected
        {"folder_path": str(video_only), "resolution": [64], "num_frames": 9, "fps": 24, "do_audio": False,
         "window_variants": 1},
    ]
    cfg = tiny_config(tiny_model_dir, clips, tmp_path / "out", name="preset", steps=6, datasets=datasets,
                      **STRICT, **{"train.strict_audio_warmup_steps": 0})
    proc = run_config(cfg)  # raises RunFailed if strict mode counted images or do_audio: false clips
    assert status_of(proc.out.folder)["state"] == "done"
    statuses = {item.audio_status for item in proc.items}
    assert statuses == {"ok", "image", "not_requested"}
    records = [json.loads(line) for line in (proc.out.folder / "metrics.jsonl").read_text().splitlines()]
    ratios = [r["audio_supervised_ratio"] for r in records]  # 0.0 until a clip with voice has trained
    assert ratios[-1] == 1.0 and set(ratios[ratios.index(1.0):]) == {1.0}, ratios
    assert proc.items_seen < 6, "image or video-only batches were trained and not counted"
    log = (proc.out.folder / "log.txt").read_text(encoding="utf-8")
    assert "strict audio mode: 10 of 10 items that should carry a voice have it (100%" in log


def test_a_stop_during_training_names_its_checkpoint_and_logs_the_reason(tiny_model_dir, clip_data, tmp_path):
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", name="late", steps=5,
                      **STRICT, **{"train.strict_audio_warmup_steps": 0, "datasets.0.window_variants": 1})
    proc = prepared(cfg)
    try:
        proc.items_seen, proc.items_supervised = 10, 5  # what a resumed run with half its voice lost carries
        with pytest.raises(RunFailed, match="only 50% of the trained items"):
            proc._check_strict_audio()
    finally:
        proc.out.close()
    status = status_of(proc.out.folder)
    assert status["state"] == "error" and "strict audio mode" in status["error"]
    assert status["last_checkpoint"].endswith("late_000000001.safetensors")
    assert (proc.out.folder / "late_000000001.safetensors").is_file()
    log = (proc.out.folder / "log.txt").read_text(encoding="utf-8")
    assert "error: strict audio mode: only 50%" in log and "Checkpoint saved: late_000000001.safetensors" in log

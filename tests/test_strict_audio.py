"""Strict audio mode: counts only items that should carry a voice, counts speech (not sound),
decides as soon as the cached items show the share is too low, and leaves the reason in
log.txt and status.json."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
from conftest import copy_media, prepared, run_config, tiny_config
from test_media_factory import grey_frames, tone, write_media

from toolkit.errors import RunFailed
from toolkit.train.strict_audio import GO_ON, Action, ItemCounts, StrictAudioSettings, in_training

STRICT = {"train.strict_audio_mode": True, "train.strict_audio_min_supervised_ratio": 0.9}


def status_of(folder) -> dict:
    return json.loads((folder / "status.json").read_text(encoding="utf-8"))


def test_the_in_training_verdict_is_what_the_run_acts_on():
    """toolkit/train/strict_audio.py decides, the run acts (BaseSDTrainProcess._check_strict_audio):
    after the warm-up, a share with speech below the minimum is a stop that saves the step first."""
    settings = StrictAudioSettings(strict_audio_mode=True, strict_audio_min_supervised_ratio=0.5,
                                   strict_audio_warmup_steps=2)
    low = ItemCounts(seen=10, supervised=10, speech=3)
    assert in_training(settings, 2, low) is GO_ON, "the warm-up"
    assert in_training(settings, 3, ItemCounts()) is GO_ON, "nothing that should carry a voice trained yet"
    assert in_training(settings, 3, ItemCounts(seen=10, supervised=10, speech=5)) is GO_ON
    assert in_training(replace(settings, strict_audio_mode=False), 3, low) is GO_ON
    verdict = in_training(settings, 3, low)
    assert verdict.stops and verdict.action is Action.SAVE_AND_STOP
    assert verdict.message.startswith("strict audio mode: only 30% of the trained items that should carry a voice "
                                      "had speech after step 3 (minimum 50%)")


def test_too_little_voice_stops_after_caching_before_any_step(tiny_model_dir, synthetic_dir, tmp_path):
    data = copy_media(synthetic_dir, tmp_path / "d", ["clip_000.mp4"])
    for i in range(2):  # audio tracks of digital silence: clips that look like they speak but do not
        write_media(data / f"silent_{i}.mp4", frames=grey_frames(24, 64, 64), audio=np.zeros(44100, np.float32))
        (data / f"silent_{i}.txt").write_text("a silent clip")
    # a tone: its audio trains (it is sound), but it is not a voice, and strict mode counts voice
    write_media(data / "tone.mp4", frames=grey_frames(24, 64, 64), audio=tone(44100, 1.0, 330.0))
    (data / "tone.txt").write_text("a clip with a tone")
    cfg = tiny_config(tiny_model_dir, data, tmp_path / "out", name="early", steps=40,
                      **STRICT, **{"train.strict_audio_warmup_steps": 50, "datasets.0.window_variants": 1})
    with pytest.raises(RunFailed) as info:
        run_config(cfg)
    message = str(info.value)
    assert info.value.exit_code == 1
    assert "after caching" in message and "before training" in message and "minimum 90%" in message
    assert all(f"silent_{i}.mp4 (silent audio track)" in message for i in range(2)), message
    assert "tone.mp4 (no speech: non-speech audio (music, tones, noise) or silence)" in message
    # the speaking clip's windows between its words come last, counted
    assert re.search(r"clip_000\.mp4 \(\d of \d windows without speech\)", message), message
    assert message.index("tone.mp4") < message.index("clip_000.mp4") and "dataset_problems.txt" in message
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
    # The synthetic clips speak one word each: about half of their 10 windows have speech.
    cfg = tiny_config(tiny_model_dir, clips, tmp_path / "out", name="preset", steps=6, datasets=datasets,
                      **{**STRICT, "train.strict_audio_min_supervised_ratio": 0.4,
                         "train.strict_audio_warmup_steps": 0})
    proc = run_config(cfg)  # raises RunFailed if strict mode counted images or do_audio: false clips
    assert status_of(proc.out.folder)["state"] == "done"
    statuses = {item.audio_status for item in proc.items}
    assert statuses == {"ok", "image", "not_requested"}
    records = [json.loads(line) for line in (proc.out.folder / "metrics.jsonl").read_text().splitlines()]
    ratios = [r["audio_supervised_ratio"] for r in records]  # 0.0 until a clip with audio has trained
    assert ratios[-1] == 1.0 and set(ratios[ratios.index(1.0):]) == {1.0}, ratios
    # speech_ratio: of the same items, those whose window has speech
    assert records[-1]["speech_ratio"] == proc.counts.speech / proc.counts.seen
    assert proc.counts.seen < 6, "image or video-only batches were trained and not counted"
    log = (proc.out.folder / "log.txt").read_text(encoding="utf-8")
    speaking = sum(item.speech for item in proc.items if item.audio_status == "ok")
    assert 0 < speaking < 10 and f"strict audio mode: {speaking} of 10 items that should carry a voice have speech" in log


def test_a_stop_during_training_names_its_checkpoint_and_logs_the_reason(tiny_model_dir, clip_data, tmp_path):
    # minimum 40%: the cached items (half of the synthetic clips' windows speak) pass it
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", name="late", steps=5,
                      **{**STRICT, "train.strict_audio_min_supervised_ratio": 0.4,
                         "train.strict_audio_warmup_steps": 0, "datasets.0.window_variants": 1})
    proc = prepared(cfg)
    try:
        # what a resumed run carries whose items all had audio, but only half of them speech
        proc.counts = ItemCounts(seen=10, supervised=10, speech=3)
        with pytest.raises(RunFailed, match="only 30% of the trained items that should carry a voice had speech"):
            proc._check_strict_audio()
    finally:
        proc.out.close()
    status = status_of(proc.out.folder)
    assert status["state"] == "error" and "strict audio mode" in status["error"]
    assert status["last_checkpoint"].endswith("late_000000001.safetensors")
    assert (proc.out.folder / "late_000000001.safetensors").is_file()
    log = (proc.out.folder / "log.txt").read_text(encoding="utf-8")
    assert "error: strict audio mode: only 30%" in log and "Checkpoint saved: late_000000001.safetensors" in log

"""`run.py CONFIG --check`: reads the datasets without loading a model, names every bad
file, exits 0 when the data can train (notes included) and 2 (bad input) otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import REPO, copy_media, tiny_config
from test_media_factory import grey_frames, tone, write_media

# The adapter's version table (plain data, read by the config schema) may load; model code, the
# trainer and the network may not (run.py hands --check to toolkit/run/file_check.py).
MODEL_MODULES = ("diffusers", "transformers", "peft", "extensions_built_in.diffusion_models.ltx2.ltx2",
                 "extensions_built_in.diffusion_models.ltx2.loading", "jobs", "toolkit.lora.network")
PROBE = (
    "import sys, run; code = run.main(sys.argv[1:]); "
    f"loaded = sorted(({{m.split('.')[0] for m in sys.modules}} | set(sys.modules)) & set({MODEL_MODULES!r})); "
    "print('MODEL-MODULES', loaded); sys.exit(code)"
)


def check(tmp_path, folder, model=None, **overrides):
    """Run the check in a fresh interpreter; the model folder is an empty stand-in (no weights:
    nothing may load it)."""
    if model is None:
        model = tmp_path / "model-stand-in"
        for sub in ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder", "tokenizer",
                    "scheduler"):
            (model / sub).mkdir(parents=True, exist_ok=True)
    config = tmp_path / "check.yaml"
    config.write_text(yaml.safe_dump(tiny_config(model, folder, tmp_path / "out", **overrides)))
    return subprocess.run([sys.executable, "-c", PROBE, str(config), "--check"], capture_output=True, text=True,
                          cwd=REPO, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_good_folder_passes_without_loading_a_model(tmp_path, synthetic_dir):
    data = copy_media(synthetic_dir, tmp_path / "good", ["clip_000.mp4", "clip_001.mp4", "image_000.png"])
    result = check(tmp_path, data)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "MODEL-MODULES []" in out, out
    assert "files: 3 = 2 clips + 1 images (0 unreadable)" in out
    assert "clips with audio: 2, without audio: 0" in out
    assert "duration: min 2.04 s, median 2.04 s, max 2.04 s" in out
    assert "fps: 24 (2 clips)" in out and "sizes: 64x64 (3)" in out
    assert "captions: 0 missing, 0 empty" in out and "problems: none" in out
    assert "items per epoch: 11" in out  # two 2.04 s clips give five 0.375 s windows each, plus the image
    assert "dataset check: ok" in out
    assert "checking good" in result.stderr  # the progress bar
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.safetensors"))


@pytest.fixture
def bad_folder(tmp_path, synthetic_dir):
    data = copy_media(synthetic_dir, tmp_path / "bad", ["clip_000.mp4"])
    good = (data / "clip_000.mp4").read_bytes()
    (data / "corrupt.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 20000, np.uint8).tobytes())
    (data / "zero.mp4").write_bytes(b"")
    (data / "truncated.mp4").write_bytes(good[: len(good) // 2])
    write_media(data / "no_audio.mp4", frames=grey_frames(24, 64, 64))
    write_media(data / "too_short.mp4", frames=grey_frames(5, 64, 64), audio=tone(44100, 5 / 24, 440))
    (data / "uncaptioned.mp4").write_bytes(good)  # a fine clip, but no caption file
    for name in ("corrupt", "zero", "truncated", "no_audio", "too_short"):
        (data / f"{name}.txt").write_text(f"the {name} clip")
    return data


def test_bad_folder_fails_and_names_every_bad_file(tmp_path, bad_folder):
    result = check(tmp_path, bad_folder)
    assert result.returncode == 2, result.stdout + result.stderr  # a bad dataset is bad input
    out = result.stdout
    assert "MODEL-MODULES []" in out
    problems = out.split("problems (", 1)[1].splitlines()[1:]
    named = {line.strip().split(":", 1)[0].rsplit("/", 1)[-1] for line in problems if line.startswith("    ")}
    assert named == {"corrupt.mp4", "zero.mp4", "truncated.mp4", "no_audio.mp4", "too_short.mp4",
                     "uncaptioned.mp4"}, out
    text = "\n".join(problems)
    assert "no audio stream" in text and "do_audio: false" in text
    assert "too short" in text and "auto_frame_count" in text
    assert "no caption file: add uncaptioned.txt" in text
    assert "files: 7 = 7 clips + 0 images (3 unreadable)" in out
    assert "captions: 1 missing, 0 empty" in out
    assert "clips shorter than 0.375 s (9 frames at 24 fps): 1" in out
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "6 files" in errors[0] and "dataset check" in errors[0], result.stderr
    assert str(bad_folder / "corrupt.mp4") in errors[0] and "and 3 more" in errors[0]  # the error names files
    assert "Traceback" not in result.stderr


def test_video_only_dataset_accepts_clips_without_audio(tmp_path, synthetic_dir):
    data = copy_media(synthetic_dir, tmp_path / "vonly", ["clip_000.mp4"])
    write_media(data / "no_audio.mp4", frames=grey_frames(24, 64, 64))
    (data / "no_audio.txt").write_text("a silent clip")
    result = check(tmp_path, data, **{"datasets.0.do_audio": False, "datasets.0.shrink_video_to_frames": False})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clips with audio: 1, without audio: 1" in result.stdout and "audio off" in result.stdout


def test_missing_model_path_is_reported_without_loading(tmp_path, synthetic_dir):
    data = copy_media(synthetic_dir, tmp_path / "good", ["image_000.png"])
    result = check(tmp_path, data, model=tmp_path / "no-model-here")
    assert result.returncode == 2
    assert "no-model-here" in result.stderr and "does not exist" in result.stderr
    assert "MODEL-MODULES []" in result.stdout


def test_one_undecodable_clip_exits_2_naming_it(tmp_path, synthetic_dir):
    data = copy_media(synthetic_dir, tmp_path / "one", ["image_000.png"])
    (data / "broken.mp4").write_bytes(b"not a video at all")
    (data / "broken.txt").write_text("a broken clip")
    result = check(tmp_path, data)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: dataset check: 1 problem in 1 file ({data / 'broken.mp4'}; each listed above with "
                      "what to do): fix or remove them: a training run would skip them or train them without their "
                      "voice or caption"]


def test_a_hub_id_not_downloaded_yet_is_a_note_and_the_data_is_checked(tmp_path, synthetic_dir, monkeypatch):
    """The data can be checked while the model downloads (--validate and the run refuse it)."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    data = copy_media(synthetic_dir, tmp_path / "good", ["image_000.png"])
    result = check(tmp_path, data, model="Lightricks/LTX-2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"model: Lightricks/LTX-2 (hub id, NOT in the Hugging Face cache {tmp_path / 'empty-hub'})" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "`hf download Lightricks/LTX-2`" in warnings[0], result.stderr
    assert "dataset check: ok" in result.stdout and "MODEL-MODULES []" in result.stdout

"""Bad files never stop a run of many: it trains on the good ones, with one warning per bad
file naming it, and lists them in dataset_problems.txt."""

from __future__ import annotations

import json
import shutil

import numpy as np
from conftest import copy_media, run_config, tiny_config
from test_media_factory import grey_frames, write_media

BAD = ("corrupt.mp4", "zero.mp4", "truncated.mp4", "no_audio.mp4", "uncaptioned.png")


def test_run_trains_over_bad_files_with_one_warning_each(tiny_model_dir, synthetic_dir, tmp_path):
    data = copy_media(synthetic_dir, tmp_path / "data", ["clip_000.mp4", "clip_001.mp4"])
    good = (data / "clip_000.mp4").read_bytes()
    (data / "corrupt.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 30000, np.uint8).tobytes())
    (data / "zero.mp4").write_bytes(b"")
    (data / "truncated.mp4").write_bytes(good[: len(good) * 2 // 3])
    write_media(data / "no_audio.mp4", frames=grey_frames(24, 64, 64))
    shutil.copy2(synthetic_dir / "image_000.png", data / "uncaptioned.png")  # no caption beside it
    for name in ("corrupt", "zero", "truncated", "no_audio"):
        (data / f"{name}.txt").write_text(f"the {name} clip")

    proc = run_config(tiny_config(tiny_model_dir, data, tmp_path / "out", name="bad", steps=3))

    status = json.loads((proc.out.folder / "status.json").read_text())
    assert status["state"] == "done" and status["step"] == 3
    assert (proc.out.folder / "bad.safetensors").is_file()
    warnings = [line for line in proc.out.log_path.read_text(encoding="utf-8").splitlines() if "WARNING" in line]
    for name in BAD:
        naming = [line for line in warnings if f"/{name}" in line]
        assert len(naming) == 1, (name, warnings)
    assert not any("clip_000.mp4" in line or "clip_001.mp4" in line for line in warnings), warnings
    assert "no caption file" in next(line for line in warnings if "uncaptioned.png" in line)
    assert "no audio stream" in next(line for line in warnings if "no_audio.mp4" in line)
    # good clips (five windows each), the silent clip (two windows) and the image train
    trained = {item.path.rsplit("/", 1)[-1] for item in proc.items}
    assert trained == {"clip_000.mp4", "clip_001.mp4", "no_audio.mp4", "uncaptioned.png"}
    problems = (proc.out.folder / "dataset_problems.txt").read_text(encoding="utf-8")
    for name in BAD:
        assert f"/{name}\t" in problems, problems

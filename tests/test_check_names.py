"""Issue 24 item 5: `--check` names what it counts. Each clip whose audio ends before its video
is listed with by how much, and an upload cut short (60 % of its bytes: the header still
declares the whole length) is a problem called "truncated?", not hidden in that count (media
made by ffmpeg)."""

from __future__ import annotations

import shutil

import yaml
from conftest import tiny_config


def test_early_audio_is_named_and_a_cut_upload_is_called_truncated(odd_media, tmp_path, capsys, tiny_model_dir):
    import run

    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("audio_short", "truncated", "full_upload"):
        shutil.copy(odd_media.get(name), folder / f"{name}.mp4")
        (folder / f"{name}.txt").write_text("a test pattern with a tone")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, folder, tmp_path / "out")))
    code = run.main([str(config), "--check"])
    out = capsys.readouterr().out
    assert code == 2, out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "clips whose audio ends before their video: 2" in line)
    listed = lines[start + 1: start + 3]
    assert listed[0].startswith(f"    {folder / 'audio_short.mp4'}: by 0.4") and "truncated" not in listed[0]
    assert listed[1].startswith(f"    {folder / 'truncated.mp4'}: by 2.") and listed[1].endswith(" (truncated?)")
    problems = out.split("  problems (1):", 1)[1]
    assert (f"{folder / 'truncated.mp4'}: truncated? its video stream declares 6.00 s but its frames end at 3."
            in problems)
    assert "a run trains only the part that is there" in problems
    assert "full_upload.mp4" not in problems  # the same file whole: no note, no problem

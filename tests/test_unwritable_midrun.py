"""Issue 24 item 6: an output folder that becomes unwritable while the run trains. The first
write error wins: the run exits 2 with one line naming the path it could not write, releasing
the lock never replaces that error, and status.json records it wherever it can still be written.

The folder is made unwritable for real: `chattr +i` (immutable, which holds for root too) when
the tests run as root, else a read-only mode."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import tiny_config

import jobs.process.BaseSDTrainProcess as process_module


def _lock(folder: Path) -> None:
    if os.geteuid() == 0:
        result = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"chattr cannot make {folder} immutable here: {result.stderr.strip()}")
    else:
        folder.chmod(0o555)


def _unlock(folder: Path) -> None:
    if folder.exists():
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
@pytest.mark.parametrize("which", ["run folder", "samples folder"])
def test_the_first_write_error_wins_and_exits_2_naming_the_path(which, tiny_model_dir, clip_data, tmp_path,
                                                               monkeypatch, capsys):
    import run

    folder = tmp_path / "out" / "ro"
    locked = folder if which == "run folder" else folder / "samples"
    overrides = {"save.save_every": 1000, "datasets.0.window_variants": 1}
    if which == "samples folder":  # the first sampling (after step 1) cannot write its video
        overrides.update({"train.disable_sampling": False, "sample.sample_every": 1, "sample.voice_metric": False,
                          "train.skip_first_sample": True})
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, clip_data, tmp_path / "out", name="ro", steps=2,
                                                 **overrides)))
    real = process_module.TrainProcess.train_step

    def step_then_lock(self):
        metrics = real(self)
        if self.step == 0:  # during step 1: what follows it (metrics, status, samples) meets the lock
            locked.mkdir(parents=True, exist_ok=True)
            _lock(locked)
        return metrics

    monkeypatch.setattr(process_module.TrainProcess, "train_step", step_then_lock)
    try:
        code = run.main([str(config)])
    finally:
        _unlock(locked)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2, errors
    # The run folder: step 1's metrics line is the first write after the lock (the file is new).
    target = folder / "metrics.jsonl" if which == "run folder" else folder / "samples" / "000000001_00.mp4"
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot write {target}: "), errors
    assert "the place is read-only or not writable by this user" in errors[0]
    status = json.loads((folder / "status.json").read_text())
    if which == "run folder":  # nothing can be written there: status.json stays as it was before step 1
        assert status["step"] == 0 and status["state"] not in ("error", "done")
        log = (folder / "log.txt").read_text()  # the log file was open before: it says what happened
        assert f"could not remove {folder / 'run.lock'}" in log and "the next run takes it over" in log
    else:
        assert status["state"] == "error" and status["error"] == errors[0].removeprefix("error: ")
        assert not (folder / "run.lock").exists()

"""A stop at the very end of a run: during the final sampling, or during the final save.

The next start of the same config must finish what the stop cut off (the final samples and
their voice score, or the final LoRA file) without training again. The stops here are real
signals (SIGTERM delivered to this process under run.py's handler), sent from inside the
sampler or the atomic writer, so they land exactly in the phase under test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from conftest import run_config, tiny_config
from safetensors import safe_open
from safetensors.torch import load_file

from toolkit.errors import Interrupted
from toolkit.run.signals import InterruptOnSignals


def status_of(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


def metrics_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def decoded(path: Path) -> tuple:
    """A sample's frames and sound (the file's bytes also hold its creation time)."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    with av.open(str(path)) as container:
        sound = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=-1)
    return frames, sound


def distance(a: tuple, b: tuple) -> tuple[float, float]:
    """(mean |difference| of the frames in 0-255 levels, largest |difference| of the sound)."""
    return float(abs(a[0].astype(float) - b[0]).mean()), float(abs(a[1] - b[1]).max())


def final_step_of(path: Path) -> int:
    with safe_open(str(path), framework="pt") as handle:
        return int(handle.metadata()["ltx2_trainer.step"])


def test_a_stop_during_the_final_sampling_is_rendered_and_scored_at_the_next_start(
        tiny_model_dir, clip_data, tmp_path, monkeypatch):
    from toolkit.run import sampling

    # Samples at step 0 (the base model), step 2 (a periodic one, checkpoint kept) and step 4 (the final one).
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="f", steps=4,
                      **{"save.save_every": 2, "sample.sample_every": 2, "train.disable_sampling": False,
                         "train.skip_first_sample": False})
    real = sampling.render_samples

    def terminated_at_the_final_step(model, jobs, folder, step, **kwargs):
        if step == 4:  # SIGTERM as the final sampling starts (a scheduler ending the job)
            os.kill(os.getpid(), signal.SIGTERM)
        return real(model, jobs, folder, step, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(sampling, "render_samples", terminated_at_the_final_step)
        with InterruptOnSignals(), pytest.raises(Interrupted) as stopped:
            run_config(cfg)
    assert stopped.value.exit_code == 143
    folder = tmp_path / "f"
    final = folder / "f.safetensors"
    assert final.is_file() and final_step_of(final) == 4  # saved before the sampling
    stopped_status = status_of(folder)
    assert stopped_status["state"] == "stopped" and stopped_status["error"] == "interrupted (SIGTERM)"
    assert stopped_status["last_checkpoint"] == str(final), "the stop names the newest file, not step 2's"
    assert (folder / "samples" / "000000002_00.mp4").is_file()
    assert not (folder / "samples" / "000000004_00.mp4").exists()
    final_bytes = final.read_bytes()
    # Earlier samples lost too (deleted by hand): due as well, each from the weights of its step.
    made_then = {step: decoded(folder / "samples" / f"{step:09d}_00.mp4") for step in (0, 2)}
    for step in (0, 2):
        (folder / "samples" / f"{step:09d}_00.mp4").unlink()

    proc = run_config(cfg)  # the same config again: exit 0

    assert proc.complete
    assert (folder / "samples" / "000000004_00.mp4").is_file()
    # Each from the weights of its own step (fp32 files, same seed): the samples the run made,
    # far closer to them than the two steps' samples are to each other. (Not always bit for
    # bit: the video of one render differed by ~0.6/255 on average in some test runs.)
    between_steps = distance(made_then[0], made_then[2])
    for step in (0, 2):
        again = distance(decoded(folder / "samples" / f"{step:09d}_00.mp4"), made_then[step])
        assert again[0] < between_steps[0] / 4 and again[1] < between_steps[1] / 4, (step, again, between_steps)
    status = status_of(folder)
    assert status["state"] == "done" and status["step"] == 4 and status["last_checkpoint"] == str(final)
    assert status["last_sample"].endswith("000000004_00.mp4")
    assert [h["step"] for h in status["voice"]["history"]] == [0, 2, 4]
    log = (folder / "log.txt").read_text()
    after_restart = log.split("the run is complete")[-1]
    assert ("samples of step 0 (from the starting adapter), step 2 (from f_000000002.safetensors) and step 4 "
            "(from f.safetensors) were never made: rendering them now") in after_restart
    assert "samples for step 4: 000000004_00.mp4" in after_restart
    assert "voice similarity at step 4" in after_restart
    # nothing trained again: one training row per step, the final LoRA untouched
    records = metrics_of(folder)
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
    assert [r["step"] for r in records if "voice_similarity" in r] == [0, 2, 0, 2, 4]  # 0 and 2 scored again
    assert final.read_bytes() == final_bytes
    assert "resuming from step" not in after_restart

    # A third start owes nothing: it says complete and loads no model.
    again = run_config(cfg)
    assert again.complete and again.model is None
    assert len([r for r in metrics_of(folder) if "voice_similarity" in r]) == 5
    assert [h["step"] for h in status_of(folder)["voice"]["history"]] == [0, 2, 4]  # the chart keeps its points


def test_a_stop_during_the_final_save_is_recovered_at_the_next_start(tiny_model_dir, clip_data, tmp_path,
                                                                     monkeypatch):
    import toolkit.atomic

    # The final step is a periodic sampling step too: its samples come after the final save.
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="s", steps=2,
                      **{"sample.sample_every": 2, "train.disable_sampling": False})
    folder = tmp_path / "s"
    final = folder / "s.safetensors"
    leftover = folder / ".s.safetensors.killed.tmp"
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst) == final:  # the final LoRA is written, not yet published: SIGTERM now
            shutil.copyfile(src, leftover)  # what a kill -9 at this instant would leave behind
            os.kill(os.getpid(), signal.SIGTERM)
        return real_replace(src, dst, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(toolkit.atomic.os, "replace", replace)
        with InterruptOnSignals(), pytest.raises(Interrupted) as stopped:
            run_config(cfg)
    assert stopped.value.exit_code == 143 and not stopped.value.saved
    assert not final.exists() and leftover.exists() and not (folder / "samples").exists()
    assert [p.name for p in folder.glob(".*.tmp")] == [leftover.name]  # the writer's own temp file is gone
    step_lora = load_file(str(folder / "s_000000002.safetensors"))  # the last step's checkpoint is whole
    assert status_of(folder)["state"] == "stopped"

    proc = run_config(cfg)

    assert proc.step == 2 and status_of(folder)["state"] == "done"
    assert final.is_file() and final_step_of(final) == 2
    written = load_file(str(final))
    assert set(written) == set(step_lora) and all(torch.equal(written[k], step_lora[k]) for k in step_lora)
    assert not list(folder.glob(".*.tmp"))
    log = (folder / "log.txt").read_text().split("saved s_000000002.safetensors")[1]  # the second start
    assert "removed 1 unfinished temp file(s) of an interrupted save" in log
    assert "resuming from step 2 (s_000000002.state.pt)" in log
    records = metrics_of(folder)
    assert [r["step"] for r in records if "loss" in r] == [1, 2]  # no step trained again
    assert [r["step"] for r in records if "voice_similarity" in r] == [2]  # the final samples, made once
    assert (folder / "samples" / "000000002_00.mp4").is_file()


def test_the_owed_samplings_follow_the_sampling_schedule_and_the_kept_checkpoints(tiny_model_dir, clip_data,
                                                                                  tmp_path):
    from jobs.process.due_samples import DueSampling, due_samplings
    from toolkit.configuration.loader import validate_config_data
    from toolkit.run.output import RunOutput

    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="p", steps=10,
                      **{"sample.sample_every": 2, "sample.sample_start_step": 4, "train.disable_sampling": False,
                         "sample.samples": [{"prompt": "a"}, {"prompt": "b"}]})
    config = validate_config_data(cfg).job.config.process[0]
    out = RunOutput(tmp_path / "p", "p")
    try:
        out.samples.mkdir()
        for name in ("000000004_00.mp4", "000000004_01.mp4", "000000006_00.mp4", "000000008_01.mp4"):
            (out.samples / name).write_bytes(b"made")
        (tmp_path / "p" / "p_000000006.safetensors").write_bytes(b"kept")  # step 8's checkpoint is gone
        due, lost = due_samplings(config, out, final_step=10)
        # 2: before sample_start_step; 4: whole; 6: one of two prompts missing, its checkpoint kept
        assert due == [DueSampling(6, out.lora_path(6)), DueSampling(10, out.lora_path(None))]
        assert lost == [8]
        config.train.skip_first_sample = False  # the base model's samples are owed too, from the start
        assert due_samplings(config, out, final_step=10)[0][0] == DueSampling(0, None)
        config.train.disable_sampling = True
        assert due_samplings(config, out, final_step=10) == ([], [])
    finally:
        out.close()


def test_a_stop_while_torch_save_writes_the_state_stops_the_run_instead_of_failing_it(tmp_path, monkeypatch):
    """torch.save writes through a Python callback; a signal's handler runs there, and torch
    reported its stop as a RuntimeError: the run ended as a crash (exit 1, status "error")
    when SIGINT/SIGTERM came while the last step's state was saved."""
    import toolkit.atomic

    target = tmp_path / "s_000000002.state.pt"
    target.write_bytes(b"previous state")
    real_write = toolkit.atomic._RecordingFile.write
    calls = []

    def write(self, data):
        calls.append(len(data))
        if len(calls) == 2:  # mid-file: the header is out, the tensors are not
            os.kill(os.getpid(), signal.SIGTERM)
        return real_write(self, data)

    monkeypatch.setattr(toolkit.atomic._RecordingFile, "write", write)
    with InterruptOnSignals(), pytest.raises(Interrupted) as stopped:
        toolkit.atomic.atomic_torch_save(target, {"network": torch.zeros(4096)})
    assert stopped.value.exit_code == 143 and len(calls) == 2
    assert target.read_bytes() == b"previous state"
    assert not list(tmp_path.glob(".*.tmp"))

"""The loop's pace and ETA (toolkit/run/step_clock.py, jobs/process/progress.py) and Save now /
Sample now (toolkit/run/requests.py).

Time is a fake clock that only the test moves: a training step costs 1 s, a sampling 100 s,
a save 5 s. The figures asserted are then exact, and no test depends on this machine's speed."""

from __future__ import annotations

import functools
import json

import pytest
from conftest import run_config, tiny_config

import jobs.process.BaseSDTrainProcess as process_module
from jobs.process import checkpointing
from jobs.process.progress import multiples_between
from jobs.process.run_state import RunPart
from toolkit.run import sampling
from toolkit.run.checkpoint import load_state
from toolkit.run.requests import RunRequests
from toolkit.run.step_clock import StepClock


class Recorder(RunPart):
    """A part added to the run: each hook it hears, with the step the run state says."""

    state_key = "recorder"

    def __init__(self, state):
        self.state = state
        self.heard = []

    def on_train_start(self):
        self.heard.append(("train_start", self.state.step))

    def on_post_optimizer_step(self, metrics):
        self.heard.append(("post_optimizer_step", self.state.step, "loss" in metrics))

    def on_step_end(self):
        self.heard.append(("step_end", self.state.step))

    def on_post_save(self, path, final):
        self.heard.append(("post_save", self.state.step, path.name, final))

    def on_train_end(self):
        self.heard.append(("train_end", self.state.step))

    def on_run_end(self):
        self.heard.append(("run_end", self.state.step))

    def state_dict(self):
        return {"heard": len(self.heard)}


class FakeTime:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_clock_pace_leaves_pauses_out_and_the_eta_adds_them_back():
    now = FakeTime()
    clock = StepClock(now=now)
    shifted = []
    clock.on_pause = shifted.append
    assert clock.eta(10, 1, 1) == {"eta_s": None, "eta_samples_s": None, "eta_saves_s": None}
    clock.start()
    for _ in range(3):
        now.t += 2.0
        clock.step_done()
    with clock.pause("sampling"):
        now.t += 30.0
        with clock.pause("saving"):  # nested: one pause, counted once (as sampling)
            now.t += 4.0
    now.t += 2.0
    clock.step_done()
    assert clock.s_per_it == 2.0 and clock.steps == 4 and clock.train_s == 8.0
    assert shifted == [34.0] and clock.mean_pause("sampling") == 34.0 and clock.mean_pause("saving") is None
    # 6 steps at 2 s, 2 samplings at 34 s; no save measured yet: its part is unknown, left out.
    assert clock.eta(6, 2, 3) == {"eta_s": 12.0 + 68.0, "eta_samples_s": 68.0, "eta_saves_s": None}
    assert clock.eta(0, 0, 0) == {"eta_s": 0.0, "eta_samples_s": 0.0, "eta_saves_s": 0.0}
    assert [multiples_between(2, a, 7) for a in (0, 1, 2, 5, 6)] == [3, 3, 2, 1, 0]


def test_requests_are_taken_once_and_only_when_named(tmp_path):
    save = tmp_path / "save"
    requests = RunRequests({"LTX2_SAVE_FILE": str(save)})
    assert not requests.take("save") and not requests.take("sample")
    save.write_text("")
    assert requests.take("save") and not save.exists() and not requests.take("save")
    assert not RunRequests({}).take("save")


def test_status_pace_and_eta_leave_out_sampling_and_saving_and_requests_are_honoured(
        tiny_model_dir, clip_data, tmp_path, monkeypatch):
    """4 steps, sampling at step 0 and every 2 steps, a checkpoint every 3; Save now and Sample
    now asked during step 1 (as the ai-toolkit extension does with the UI's buttons)."""
    now = FakeTime()
    monkeypatch.setattr(process_module, "StepClock", functools.partial(StepClock, now=now))
    requests = {"save": tmp_path / "req" / "save", "sample": tmp_path / "req" / "sample"}
    monkeypatch.setenv("LTX2_SAVE_FILE", str(requests["save"]))
    monkeypatch.setenv("LTX2_SAMPLE_FILE", str(requests["sample"]))
    real_step, real_render = process_module.TrainProcess.train_step, sampling.render_samples
    real_save = checkpointing.Checkpoints._write

    def train_step(self):
        metrics = real_step(self)
        now.t += 1.0
        if self.step == 0:  # during step 1: the UI's buttons
            requests["save"].parent.mkdir(exist_ok=True)
            requests["save"].write_text("")
            requests["sample"].write_text("")
        return metrics

    def render_samples(*args, **kwargs):
        paths = real_render(*args, **kwargs)
        now.t += 100.0
        return paths

    def save(self, final):
        path = real_save(self, final)
        now.t += 5.0
        return path

    monkeypatch.setattr(process_module.TrainProcess, "train_step", train_step)
    monkeypatch.setattr(sampling, "render_samples", render_samples)
    monkeypatch.setattr(checkpointing.Checkpoints, "_write", save)
    seen = []
    real_update = process_module.RunOutput.update_status

    def recording(self, **fields):
        real_update(self, **fields)
        seen.append(json.loads(self.status_path.read_text()))

    monkeypatch.setattr(process_module.RunOutput, "update_status", recording)
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="pace", steps=4, **{
        "train.disable_sampling": False, "train.skip_first_sample": False, "sample.sample_every": 2,
        "sample.voice_metric": False, "save.save_every": 3, "performance_log_every": 2})
    proc = run_config(cfg, part=Recorder)
    folder = proc.out.folder

    # The loop calls each hook of a part added to the run, in order (jobs/process/run_state.py);
    # a save inside another part's hook (Save now, at step 1) is heard there.
    def plain(step):  # a step with nothing saved
        return [("post_optimizer_step", step, True), ("step_end", step)]

    assert proc.parts[-1].heard == [
        ("train_start", 0),
        ("post_optimizer_step", 1, True), ("post_save", 1, "pace_000000001.safetensors", False), ("step_end", 1),
        *plain(2),
        ("post_optimizer_step", 3, True), ("post_save", 3, "pace_000000003.safetensors", False), ("step_end", 3),
        *plain(4),
        ("train_end", 4), ("post_save", 4, "pace_000000004.safetensors", False),
        ("post_save", 4, "pace.safetensors", True), ("run_end", 4)]
    # its state is saved with each checkpoint, under its key
    assert load_state(folder / "pace_000000003.state.pt")["recorder"] == {"heard": 7}

    training = {s["step"]: s for s in seen if s["state"] == "training"}
    assert [training[s]["s_per_it"] for s in (1, 2, 3, 4)] == [1.0] * 4  # not 100+ after a sampling
    # step 1: samplings at 0 and 1 (requested), a save (requested): 3 steps, 2 samplings (step 2,
    # the end) and 3 saves (step 3, the end's two files) left.
    assert training[1]["eta_s"] == pytest.approx(3 + 2 * 100 + 3 * 5)
    assert (training[1]["eta_samples_s"], training[1]["eta_saves_s"]) == (200, 15)
    assert training[2]["eta_s"] == pytest.approx(2 + 1 * 100 + 3 * 5)
    assert training[3]["eta_s"] == pytest.approx(1 + 1 * 100 + 2 * 5)
    assert training[4]["eta_s"] == pytest.approx(0 + 1 * 100 + 2 * 5)  # the end still samples and saves
    assert seen[-1]["state"] == "done" and (seen[-1]["eta_s"], seen[-1]["eta_samples_s"]) == (0, 0)

    records = [json.loads(line) for line in proc.out.metrics_path.read_text().splitlines()]
    assert {r["step"]: r["s_per_it"] for r in records} == {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}
    log = (folder / "log.txt").read_text()
    assert "performance: 1.000 s/step over steps 1-2" in log and "performance: 1.000 s/step over steps 3-4" in log

    # Save now / Sample now: taken at the end of step 1, files consumed, done at that step.
    assert not requests["save"].exists() and not requests["sample"].exists()
    assert "save requested: saving at step 1" in log and "sample requested: sampling at step 1" in log
    assert (folder / "pace_000000001.safetensors").is_file() and (folder / "pace_000000001.state.pt").is_file()
    assert sorted(p.name for p in (folder / "samples").glob("*.mp4")) == [
        f"00000000{s}_00.mp4" for s in (0, 1, 2, 4)]

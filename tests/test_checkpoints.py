"""Never lose work (issue 6, items 5-7): exact resume, Ctrl-C, atomic saves, pruning,
non-finite losses, status.json and TensorBoard."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, prepared, run_config, tiny_config
from safetensors.torch import load_file

import jobs.process.BaseSDTrainProcess as process_module
from toolkit.errors import DiskFull, Interrupted, RunFailed, UserInputError
from toolkit.run.checkpoint import load_state

STATUS_KEYS = {"state", "step", "total", "s_per_it", "eta_s", "eta_samples_s", "eta_saves_s", "last_checkpoint",
               "last_sample", "error"}


def status_of(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


class StopAfter(process_module.StopRequest):
    """A StopRequest that reports a signal after `n` steps (as if Ctrl-C came during step n)."""

    n = 4

    def __enter__(self):
        self.checks = 0
        self.signal_name = "SIGINT"
        return self

    def __exit__(self, *exc):
        return False

    @property
    def requested(self):
        self.checks += 1
        return self.checks >= self.n

    @requested.setter
    def requested(self, value):
        pass


@pytest.mark.numerics
def test_stopped_and_resumed_run_equals_the_uninterrupted_run(tiny_model_dir, clip_data, tmp_path, monkeypatch):
    overrides = {"train.lr": 5e-3, "network.rank_dropout": 0.1, "train.timestep_type": "logit_normal"}
    straight = run_config(tiny_config(tiny_model_dir, clip_data, tmp_path / "a", name="r", steps=8, **overrides))

    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path / "b", name="r", steps=8, **overrides)
    with monkeypatch.context() as m:
        m.setattr(process_module, "StopRequest", StopAfter)
        with pytest.raises(Interrupted) as stopped:  # stops the program (exit 130), after the save
            run_config(cfg)
    assert stopped.value.saved and stopped.value.exit_code == 130
    folder = tmp_path / "b" / "r"
    assert status_of(folder)["state"] == "stopped" and status_of(folder)["step"] == 4
    assert (folder / "r_000000004.safetensors").is_file() and (folder / "r_000000004.state.pt").is_file()
    assert not (folder / "r.safetensors").exists()

    resumed = run_config(cfg)
    log = (folder / "log.txt").read_text()
    assert "resuming from step 4 (r_000000004.state.pt)" in log
    assert resumed.step == 8 and status_of(folder)["state"] == "done"
    a = load_file(str(straight.out.folder / "r.safetensors"))
    b = load_file(str(folder / "r.safetensors"))
    assert set(a) == set(b)
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-5, worst
    assert any(a[k].abs().max() > 0 for k in a if "lora_B" in k)
    # metrics of the resumed half continue the straight run's
    straight_m = [json.loads(x) for x in (straight.out.folder / "metrics.jsonl").read_text().splitlines()]
    resumed_m = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed_m] == list(range(1, 9))
    assert [r["loss"] for r in resumed_m] == pytest.approx([r["loss"] for r in straight_m], rel=1e-4)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_finishes_the_step_saves_and_stops_the_program(signum, code, tiny_model_dir, clip_data, tmp_path):
    name = signal.Signals(signum).name
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", name="sig", steps=5000)
    config_path = tmp_path / "sig.yaml"
    config_path.write_text(yaml.safe_dump(cfg))
    # a second config on the command line: a stopped program must not start it (even with -r)
    next_path = tmp_path / "next.yaml"
    next_path.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, clip_data, tmp_path / "out", name="next")))
    folder = tmp_path / "out" / "sig"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    # Output goes to files: a full pipe would block the child.
    out_file, err_file = open(tmp_path / "stdout.txt", "w"), open(tmp_path / "stderr.txt", "w")
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), str(config_path), str(next_path), "-r"],
                            cwd=REPO, env=env,
                            stdout=out_file, stderr=err_file, text=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            if (folder / "status.json").exists():
                try:
                    status = status_of(folder)
                except json.JSONDecodeError:  # never happens with atomic writes; fail loudly below
                    raise AssertionError("status.json was read half-written") from None
                if status.get("state") == "training" and status.get("step", 0) >= 2:
                    break
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()[-3000:]
            time.sleep(0.2)
        else:
            raise AssertionError("the run did not reach step 2 in time")
        proc.send_signal(signum)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
        out_file.close()
        err_file.close()
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == code, err[-3000:]
    status = status_of(folder)
    step = status["step"]
    assert status["state"] == "stopped" and 2 <= step < 5000 and status["error"] is None
    assert f"{name} received: saving at step {step} and stopping" in err
    assert not (tmp_path / "out" / "next").exists()
    assert not (folder / "run.lock").exists()
    assert f"run the same config again to resume from sig_{step:09d}.safetensors" in err
    assert (folder / f"sig_{step:09d}.safetensors").is_file()
    assert load_state(folder / f"sig_{step:09d}.state.pt")["step"] == step
    assert status["last_checkpoint"].endswith(f"sig_{step:09d}.safetensors")
    assert not list(folder.glob(".*.tmp"))


def _failing_replace(suffix: str):
    """os.replace as on a full disk for files ending in `suffix` (the OS call that publishes
    an atomic write), the real one otherwise."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith(suffix):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *args, **kwargs)

    return replace


@pytest.mark.parametrize("what", ["state", "lora"])
def test_a_failed_save_leaves_the_previous_checkpoint_usable(what, tiny_model_dir, clip_data, tmp_path, monkeypatch):
    import toolkit.atomic

    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, name="k", steps=10))
    for _ in range(2):
        proc.train_step()
        proc.step += 1
    proc.save_checkpoint()
    folder = proc.out.folder
    good_lora = load_file(str(folder / "k_000000002.safetensors"))
    for _ in range(2):
        proc.train_step()
        proc.step += 1
    suffix = ".state.pt" if what == "state" else "k_000000004.safetensors"
    with monkeypatch.context() as m:
        m.setattr(toolkit.atomic.os, "replace", _failing_replace(suffix))
        with pytest.raises(DiskFull) as info:
            proc.save_checkpoint()
    target = folder / ("k_000000004.state.pt" if what == "state" else "k_000000004.safetensors")
    assert str(info.value).startswith(f"cannot write {target}: No space left on device")
    assert info.value.exit_code == 1
    leftovers = [p.name for p in folder.iterdir() if p.suffix == ".tmp"]
    assert leftovers == [], leftovers
    assert not (folder / "k_000000004.state.pt").exists()
    if what == "lora":
        assert not (folder / "k_000000004.safetensors").exists()
    # the previous checkpoint loads, and a new run resumes from it
    again = load_file(str(folder / "k_000000002.safetensors"))
    assert all(torch.equal(good_lora[k], again[k]) for k in good_lora)
    assert load_state(folder / "k_000000002.state.pt")["step"] == 2
    resumed = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, name="k", steps=10))
    assert resumed.step == 2


def test_stale_temp_files_of_a_killed_save_are_removed_on_start(tiny_model_dir, clip_data, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir(parents=True)
    (folder / ".t_000000002.safetensors.abc123.tmp").write_bytes(b"\0" * 10)
    (folder / "samples").mkdir()
    (folder / "samples" / ".000000002_00.mp4.abc123.tmp").write_bytes(b"\0" * 10)
    cache = clip_data / "_latent_cache"
    cache.mkdir(exist_ok=True)
    old, young = cache / ".clip_000_ab.safetensors.x1.tmp", cache / ".clip_001_cd.safetensors.x2.tmp"
    old.write_bytes(b"\0")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    young.write_bytes(b"\0")  # another run's cache write in flight: left alone
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, name="t"))
    assert not list(proc.out.folder.glob(".*.tmp")) and not list(proc.out.samples.glob(".*.tmp"))
    assert not old.exists() and young.exists()
    young.unlink()
    assert "unfinished temp file" in (proc.out.folder / "log.txt").read_text()


def test_max_step_saves_to_keep_prunes_old_checkpoints(tiny_model_dir, clip_data, tmp_path):
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="p", steps=6,
                      **{"save.save_every": 1, "save.max_step_saves_to_keep": 2})
    proc = run_config(cfg)
    names = sorted(p.name for p in proc.out.folder.glob("p*.*") if p.suffix in (".safetensors", ".pt", ".json"))
    assert names == ["p.safetensors", "p_000000005.safetensors", "p_000000005.sha256.json", "p_000000005.state.pt",
                     "p_000000006.safetensors", "p_000000006.sha256.json", "p_000000006.state.pt"]


def test_non_finite_losses_are_skipped_then_stop_pointing_to_the_last_checkpoint(tiny_model_dir, clip_data, tmp_path, monkeypatch):
    from extensions_built_in.sd_trainer.SDTrainer import SDTrainer

    real_compute = SDTrainer.compute
    calls = {"n": 0}

    def flaky(self, batch):
        calls["n"] += 1
        losses = real_compute(self, batch)
        if calls["n"] in (2,) or calls["n"] >= 4:  # one isolated NaN, then NaN for good
            losses.total = losses.total * float("nan")
        return losses

    monkeypatch.setattr(SDTrainer, "compute", flaky)
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="nan", steps=40, **{"save.save_every": 3})
    with pytest.raises(RunFailed) as info:
        run_config(cfg)
    folder = tmp_path / "nan"
    message = str(info.value)
    assert "5 non-finite losses in a row at step 8" in message
    # skipped steps never change the weights, so step 6's checkpoint is still a good one
    assert "last good checkpoint" in message and message.endswith("nan_000000006.safetensors")
    status = status_of(folder)
    assert status["state"] == "error" and status["error"] == message
    records = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    skipped = [r["step"] for r in records if r.get("skipped")]
    assert skipped == [2, 4, 5, 6, 7]
    assert all(r["loss"] is None for r in records if r.get("skipped"))
    log = (folder / "log.txt").read_text()
    assert log.count("non-finite loss, step skipped") == 6
    assert "step 2: non-finite loss, step skipped (1 in a row)" in log
    assert "step 8: non-finite loss, step skipped (5 in a row)" in log
    assert load_state(folder / "nan_000000003.state.pt")["counters"]["nonfinite_total"] == 1
    six = load_state(folder / "nan_000000006.state.pt")
    three = load_state(folder / "nan_000000003.state.pt")
    assert six["counters"]["nonfinite_total"] == 4
    assert all(torch.equal(six["network"][k], three["network"][k]) for k in three["network"]), \
        "skipped steps must not change the adapter"


def test_status_json_has_every_field_through_the_run(tiny_model_dir, clip_data, tmp_path, monkeypatch):
    seen = []
    real_update = process_module.RunOutput.update_status

    def recording(self, **fields):
        real_update(self, **fields)
        seen.append(json.loads(self.status_path.read_text()))

    monkeypatch.setattr(process_module.RunOutput, "update_status", recording)
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="st", steps=3, **{"save.save_every": 2})
    proc = run_config(cfg)
    assert all(STATUS_KEYS <= set(s) for s in seen), [sorted(s) for s in seen]
    states = [s["state"] for s in seen]
    assert states[0] == "loading" and "caching" in states and states[-1] == "done"
    training = [s for s in seen if s["state"] == "training"]
    assert [s["step"] for s in training] == [1, 2, 3]
    assert all(s["total"] == 3 and s["s_per_it"] > 0 and s["eta_s"] >= 0 and s["error"] is None for s in training)
    assert training[0]["last_checkpoint"] is None
    assert training[1]["last_checkpoint"].endswith("st_000000002.safetensors")
    # At the last step only the end's two saves are left (no sampling in this run).
    assert training[-1]["eta_samples_s"] == 0 and training[-1]["eta_s"] == training[-1]["eta_saves_s"] > 0
    final = status_of(proc.out.folder)
    assert final["last_checkpoint"].endswith("st.safetensors") and final["step"] == 3


def test_status_records_an_unexpected_error(tiny_model_dir, clip_data, tmp_path, monkeypatch):
    from extensions_built_in.sd_trainer.SDTrainer import SDTrainer

    def broken(self, batch):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(SDTrainer, "compute", broken)
    with pytest.raises(RuntimeError):
        run_config(tiny_config(tiny_model_dir, clip_data, tmp_path, name="boom", steps=3))
    status = status_of(tmp_path / "boom")
    assert status["state"] == "error" and "out of memory" in status["error"]
    # log.txt has it too, once (a console that nobody reads any more would be the only place otherwise).
    log = (tmp_path / "boom" / "log.txt").read_text()
    assert log.count("ERROR error: RuntimeError: CUDA out of memory (simulated)") == 1


def test_tensorboard_logs_the_metrics(tiny_model_dir, clip_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    proc = run_config(tiny_config(tiny_model_dir, clip_data, tmp_path, name="tb", steps=3,
                                  **{"logging.use_tensorboard": True}))
    board = proc.out.folder / "tensorboard"
    assert list(board.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(board))
    events.Reload()
    tags = events.Tags()["scalars"]
    for tag in ("loss", "video_loss", "audio_loss_raw", "audio_multiplier", "lr"):
        assert tag in tags, tags
    assert [e.step for e in events.Scalars("loss")] == [1, 2, 3]


def test_tensorboard_missing_is_a_clear_error(tiny_model_dir, clip_data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="notb", steps=1, **{"logging.use_tensorboard": True})
    with pytest.raises(UserInputError) as info:
        run_config(cfg)
    assert "pip install tensorboard" in str(info.value) and "use_tensorboard: false" in str(info.value)

"""Run robustness (issue 11, items 5-9 and 11; issue 14 item 3): damaged checkpoints, a
changed config on resume, one run per folder, failed writes, signals, leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, copy_media, prepared, run_config, tiny_config
from safetensors.torch import load_file, save_file

import jobs.process.BaseSDTrainProcess as process_module
from toolkit.atomic import atomic_write_bytes
from toolkit.errors import Interrupted, UserInputError, WriteRefused
from toolkit.run.checkpoint import load_state
from toolkit.run.file_check import check_process


def status_of(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


def construct(cfg: dict, **kw):
    """A TrainProcess built (folder opened and locked) but not run; closed by the caller."""
    from toolkit.configuration.loader import validate_config_data

    loaded = validate_config_data(cfg)
    return process_module.TrainProcess(loaded.job.config.process[0], loaded.job.config.name, loaded.raw, **kw)


def close(proc) -> None:
    proc.out.close()
    proc.lock.release()


@pytest.fixture(scope="module")
def trained(tiny_model_dir, clip_data, tmp_path_factory):
    """A finished 4-step run with checkpoints at steps 2 and 4, copied per test."""
    root = tmp_path_factory.mktemp("trained")
    run_config(tiny_config(tiny_model_dir, clip_data, root, name="r", steps=4, **{"save.save_every": 2}))
    return root / "r"


def fresh_copy(trained: Path, tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "r"
    shutil.copytree(trained, dest)
    return dest


# ------------------------------------------------------------------ item 5: damaged checkpoints

@pytest.mark.parametrize("damage", ["state_bytes_flipped", "lora_truncated_without_checksums"])
def test_a_damaged_checkpoint_is_moved_aside_and_the_previous_one_resumes(damage, trained, tiny_model_dir,
                                                                           clip_data, tmp_path):
    folder = fresh_copy(trained, tmp_path)
    if damage == "state_bytes_flipped":  # still a valid zip: only the checksum can tell
        data = bytearray((folder / "r_000000004.state.pt").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "r_000000004.state.pt").write_bytes(bytes(data))
    else:
        (folder / "r_000000004.sha256.json").unlink()
        lora = folder / "r_000000004.safetensors"
        lora.write_bytes(lora.read_bytes()[:1000])
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, name="r", steps=6, **{"save.save_every": 2}))
    assert proc.step == 2
    log = (folder / "log.txt").read_text()
    reason = "r_000000004.state.pt does not match its checksum" if damage == "state_bytes_flipped" \
        else "r_000000004.safetensors does not load"
    assert f"checkpoint of step 4 is damaged: {reason}" in log
    assert "resuming from step 2 (r_000000002.state.pt)" in log
    assert (folder / "damaged" / "r_000000004.state.pt").exists()
    assert not (folder / "r_000000004.state.pt").exists() and not (folder / "r_000000004.safetensors").exists()


# ------------------------------------------------------------------ item 6: changed config on resume

def test_a_network_change_on_resume_exits_2_naming_key_folder_and_choices(trained, tiny_model_dir, clip_data, tmp_path):
    folder = fresh_copy(trained, tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="r", steps=8, **{"network.linear": 16})
    with pytest.raises(UserInputError) as info:
        run_config(cfg)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "network.linear = 8; the config now says 16" in message and str(folder) in message
    assert "a new `name`" in message and "--restart" in message
    status = status_of(folder)  # the UI sees why this start was refused
    assert status["state"] == "error" and status["error"] == message
    assert sorted(p.name for p in folder.iterdir()) == before
    saved = yaml.safe_load((folder / "config.yaml").read_text())  # still the config of the checkpoints
    assert saved["config"]["process"][0]["network"]["linear"] == 8


def test_an_optimizer_change_is_refused_too(trained, tiny_model_dir, clip_data, tmp_path):
    fresh_copy(trained, tmp_path)
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="r", steps=8, **{"train.optimizer": "adafactor"})
    with pytest.raises(UserInputError, match="train.optimizer = 'adamw'; the config now says 'adafactor'"):
        run_config(cfg)


def test_lr_and_schedule_changes_apply_from_the_resumed_step(trained, tiny_model_dir, mixed_data, tmp_path):
    folder = fresh_copy(trained, tmp_path)
    cfg = tiny_config(tiny_model_dir, mixed_data, tmp_path, name="r", steps=8,
                      **{"train.lr": 1e-3, "train.lr_scheduler": "linear", "train.batch_size": 2})
    proc = prepared(cfg)
    assert proc.step == 4
    # linear from 1e-3 over 8 steps, at step 4: half of the new lr (not the saved 2e-3)
    assert proc.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)
    assert proc.scheduler.base_lrs == [pytest.approx(1e-3)]
    log = (folder / "log.txt").read_text()
    assert "note: train.lr changed from 0.002 to 0.001: applied from the resumed step 4 on" in log
    assert "note: train.lr_scheduler changed from 'constant' to 'linear'" in log
    assert "note: train.batch_size changed from 1 to 2 since the checkpoint" in log
    then = load_state(trained / "r_000000004.state.pt")["num_items"]
    assert then != len(proc.items)
    assert f"datasets changed since r_000000004.state.pt: {then} items then, {len(proc.items)} now" in log


def test_steps_at_or_below_the_last_checkpoint_say_the_run_is_complete(trained, tiny_model_dir, clip_data, tmp_path):
    folder = fresh_copy(trained, tmp_path)
    final = (folder / "r.safetensors").read_bytes()
    proc = run_config(tiny_config(tiny_model_dir, clip_data, tmp_path, name="r", steps=3, **{"save.save_every": 2}))
    assert proc.complete and proc.model is None  # no model was loaded
    assert "the run is complete: its newest checkpoint is step 4 and train.steps is 3" in (folder / "log.txt").read_text()
    assert status_of(folder)["state"] == "done"
    assert (folder / "r.safetensors").read_bytes() == final


def test_a_stop_during_the_final_save_resumes_to_write_the_final_lora(trained, tiny_model_dir, clip_data, tmp_path):
    folder = fresh_copy(trained, tmp_path)
    (folder / "r.safetensors").unlink()  # the last state was saved, the final file was not
    proc = run_config(tiny_config(tiny_model_dir, clip_data, tmp_path, name="r", steps=4, **{"save.save_every": 2}))
    assert not proc.complete and proc.step == 4
    written, expected = load_file(str(folder / "r.safetensors")), load_file(str(trained / "r.safetensors"))
    assert set(written) == set(expected) and all(torch.equal(written[k], expected[k]) for k in expected)
    assert status_of(folder)["state"] == "done"


# ------------------------------------------------------------------ item 7: one run per folder

def test_a_second_run_on_a_locked_folder_exits_2_naming_the_pid(tiny_model_dir, clip_data, tmp_path):
    folder = tmp_path / "busy"
    folder.mkdir()
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (folder / "run.lock").write_text(json.dumps({"pid": owner.pid, "host": os.uname().nodename}))
        with pytest.raises(UserInputError) as info:
            construct(tiny_config(tiny_model_dir, clip_data, tmp_path, name="busy"))
    finally:
        owner.kill()
        owner.wait()
    assert info.value.exit_code == 2 and f"in use by another run (PID {owner.pid})" in str(info.value)
    assert sorted(p.name for p in folder.iterdir()) == ["run.lock"]  # nothing written into the other run
    # its owner is gone now (killed and reaped): the next start takes the lock over, with a note
    proc = construct(tiny_config(tiny_model_dir, clip_data, tmp_path, name="busy"))
    try:
        assert proc.folder_notes == [f"took over run.lock of a run that is gone (PID {owner.pid})"]
        assert json.loads((folder / "run.lock").read_text())["pid"] == os.getpid()
    finally:
        close(proc)
    assert not (folder / "run.lock").exists()


def test_another_trainers_lora_is_never_overwritten(tiny_model_dir, clip_data, tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    save_file({"diffusion_model.x.lora_A.weight": torch.ones(2, 2)}, str(folder / "theirs.safetensors"),
              metadata={"software": "ai-toolkit"})
    original = (folder / "theirs.safetensors").read_bytes()
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="theirs")
    with pytest.raises(UserInputError) as info:
        construct(cfg)
    assert "holds theirs.safetensors, written by another trainer" in str(info.value)
    assert (folder / "theirs.safetensors").read_bytes() == original and not (folder / "run.lock").exists()
    # --restart moves the whole folder aside, nothing is deleted
    proc = construct(cfg, restart=True)
    close(proc)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("theirs.old-")]
    assert len(aside) == 1 and (aside[0] / "theirs.safetensors").read_bytes() == original
    assert proc.folder_notes[0].startswith(f"--restart: the previous run in {folder} was moved to")


# ------------------------------------------------------------------ item 8 + issue 14.3: failed writes

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE (a real file-size limit) is POSIX")


@POSIX_ONLY
def test_the_atomic_writer_names_the_path_and_classes_the_reason(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(WriteRefused) as refused:  # a file where a folder is expected
        atomic_write_bytes(blocker / "sub" / "out.bin", b"data")
    assert str(refused.value).startswith(f"cannot write {blocker / 'sub' / 'out.bin'}: ")
    assert refused.value.exit_code == 2 and "writable" in str(refused.value)
    # a real file-size limit (the kernel answers EFBIG, as a full disk answers ENOSPC); the
    # torch.save path (whose C++ writer hides the errno) is in the full-disk run below
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))\n"
            "from toolkit.atomic import atomic_write_bytes\n"
            "from toolkit.errors import DiskFull\n"
            f"open({str(tmp_path / 'big.pt')!r}, 'wb').write(b'old')\n"
            "try:\n"
            f"    atomic_write_bytes({str(tmp_path / 'big.pt')!r}, bytes(10000))\n"
            "except DiskFull as e:\n"
            "    print(e.exit_code, e)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith(f"1 cannot write {tmp_path / 'big.pt'}: File too large"), result.stderr
    assert (tmp_path / "big.pt").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def _cli(args: list, tmp_path: Path, fsize: int | None = None) -> subprocess.CompletedProcess:
    def limit():
        import resource

        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(REPO / "run.py"), *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=limit)


@POSIX_ONLY
def test_a_full_disk_exits_1_naming_the_file_and_status_says_error(tiny_model_dir, clip_data, tmp_path):
    # The LoRA (150 kB) fits under the limit, the training state (560 kB) does not.
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", name="full", steps=2,
                      **{"save.save_every": 1, "datasets.0.window_variants": 1})
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = _cli([path], tmp_path, fsize=300_000)
    folder = tmp_path / "out" / "full"
    state = folder / "full_000000001.state.pt"
    expected = f"error: cannot write {state}: File too large (free some space and run the same command again"
    assert result.returncode == 1, result.stderr[-2000:]
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")][0].startswith(expected)
    status = status_of(folder)
    assert status["state"] == "error" and status["error"].startswith(f"cannot write {state}: File too large")
    assert not state.exists() and not list(folder.glob(".*.tmp"))


def test_an_unwritable_output_folder_exits_2_naming_it(tiny_model_dir, clip_data, tmp_path):
    (tmp_path / "out").write_text("a file, not a folder")
    with pytest.raises(WriteRefused) as info:
        construct(tiny_config(tiny_model_dir, clip_data, tmp_path / "out", name="ro"))
    assert info.value.exit_code == 2
    assert str(info.value).startswith(f"cannot write {tmp_path / 'out' / 'ro'}: Not a directory")


def test_a_failed_cache_write_falls_back_to_memory(synthetic_dir, tiny_model_dir, tmp_path):
    data = copy_media(synthetic_dir, tmp_path / "data", ["clip_000.mp4"])
    (data / "_latent_cache").write_text("a file where the cache folder goes")
    cfg = tiny_config(tiny_model_dir, data, tmp_path / "out", name="mem", steps=1,
                      **{"datasets.0.cache_latents_to_disk": True})
    proc = run_config(cfg)
    assert proc.items and status_of(proc.out.folder)["state"] == "done"
    log = (proc.out.folder / "log.txt").read_text()
    assert "could not write the latent cache: cannot write " in log and "kept in memory" in log


# ------------------------------------------------------------------ item 9: signals during caching

def test_sigterm_during_caching_stops_with_143_and_status_stopped(tiny_model_dir, clip_data, tmp_path, monkeypatch):
    from toolkit.dataloader_mixins import DatasetEncoder
    from toolkit.run.signals import InterruptOnSignals

    real = DatasetEncoder._encode_fresh

    def terminated(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # a real signal, delivered while caching
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DatasetEncoder, "_encode_fresh", terminated)
    with InterruptOnSignals(), pytest.raises(Interrupted) as info:
        run_config(tiny_config(tiny_model_dir, clip_data, tmp_path, name="term", steps=2))
    assert info.value.exit_code == 143 and not info.value.saved
    status = status_of(tmp_path / "term")
    assert status["state"] == "stopped" and "SIGTERM" in status["error"]
    assert not (tmp_path / "term" / "run.lock").exists()


# ------------------------------------------------------------------ item 11: leftovers

def test_after_a_crash_metrics_have_no_duplicates_and_lost_samples_are_rendered(tiny_model_dir, clip_data,
                                                                                tmp_path, monkeypatch):
    from toolkit.run import sampling

    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="m", steps=4,
                      **{"save.save_every": 2, "sample.sample_every": 2, "train.disable_sampling": False,
                         })
    real = sampling.render_samples

    def killed(*args, **kwargs):
        raise RuntimeError("killed while sampling (simulated)")

    with monkeypatch.context() as m:  # steps 1-2 logged, checkpoint 2 saved, then the sample dies
        m.setattr(sampling, "render_samples", killed)
        with pytest.raises(RuntimeError):
            run_config(cfg)
    folder = tmp_path / "m"
    with open(folder / "metrics.jsonl", "a") as handle:  # records of steps a kill lost, and a torn line
        handle.write(json.dumps({"step": 3, "loss": 1.0}) + "\n" + '{"step": 4, "lo')
    assert not (folder / "samples" / "000000002_00.mp4").exists()
    monkeypatch.setattr(sampling, "render_samples", real)
    run_config(cfg)
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]  # training rows, once each
    # one voice-similarity row per sampling (the lost step-2 sample, rendered at resume, and step 4)
    assert [r["step"] for r in records if "voice_similarity" in r] == [2, 4]
    assert (folder / "samples" / "000000002_00.mp4").exists()
    assert "samples for step 2" in (folder / "log.txt").read_text().split("resuming from step 2")[1]


def test_lr_true_is_refused():
    from toolkit.configuration.loader import ConfigValidationError, validate_config_data

    cfg = {"job": "extension", "config": {"name": "x", "process": [
        {"model": {"name_or_path": "Lightricks/LTX-2"}, "datasets": [{"folder_path": "/d"}], "train": {"lr": True}}]}}
    with pytest.raises(ConfigValidationError, match=r"train\.lr \(true\) must be a number"):
        validate_config_data(cfg)


def test_check_also_checks_the_pretrained_lora(tiny_model_dir, clip_data, tmp_path, capsys):
    from toolkit.configuration.loader import validate_config_data

    not_a_lora = tmp_path / "weights.safetensors"
    save_file({"model.weight": torch.ones(2)}, str(not_a_lora))
    for path, expected in ((tmp_path / "missing.safetensors", "does not exist: give the path of a LoRA"),
                           (not_a_lora, "holds no LoRA or LoKr weights")):
        cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="c", **{"network.pretrained_lora_path": str(path)})
        process = validate_config_data(cfg).job.config.process[0]
        with pytest.raises(UserInputError) as info:  # what `run.py --check` calls
            check_process(process)
        assert str(info.value).startswith(f"network.pretrained_lora_path '{path}' {expected}")
        assert "dataset check" not in capsys.readouterr().out  # stopped before the datasets

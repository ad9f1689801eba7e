"""The extension inside ai-toolkit's UI (docs/ai-toolkit.md): a restarted job, the loss chart's
loss_log.db, Save now / Sample now, return to the queue, the job's log.txt and a hard kill.

The UI's side is what ai-toolkit 27a03a9 does, on a real SQLite `Job` table in its schema
(test_ai_toolkit_patch.JOB_TABLE): its worker (ui/cron/actions/startJob.ts) sets the row
running, moves the old log.txt to logs/, and starts the job with its console appended to
`<job folder>/log.txt`; its buttons set `save_now`, `sample_now`, `return_to_queue` in the
row; its chart reads loss_log.db with the query of ui/src/app/api/jobs/[jobID]/loss/route.ts
(LOSS_ROUTE_* below). A trigger records every change of the row, so a status shown for half
a second is still seen."""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
from test_ai_toolkit_patch import apply_patch, dump, extension_config, load_extension, make_db, set_row

from toolkit.run.output import CONSOLE_LOG_ENV, RunOutput

REPO = Path(__file__).resolve().parents[1]
EXT = load_extension("ltx2_voice_ui_under_test")
loss_log = importlib.import_module(f"{EXT.__name__}.loss_log")
console = importlib.import_module(f"{EXT.__name__}.console")
process_mod = importlib.import_module(f"{EXT.__name__}.process")
job_row = importlib.import_module(f"{EXT.__name__}.job_row")

LOSS_ROUTE_KEYS = "SELECT key FROM metric_keys ORDER BY key ASC"
LOSS_ROUTE_POINTS = """
      SELECT m.step AS step, s.wall_time AS wall_time, m.value_real AS value, m.value_text AS value_text
      FROM metrics m JOIN steps s ON s.step = m.step
      WHERE m.key = ? AND (? IS NULL OR m.step > ?) AND (m.step % ?) = 0
      ORDER BY m.step ASC LIMIT ?"""
HISTORY = """CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT, info TEXT, step INTEGER);
CREATE TRIGGER job_history AFTER UPDATE ON Job WHEN new.id = 'job-1'
BEGIN INSERT INTO history(status, info, step) VALUES (new.status, new.info, new.step); END;"""
TIMESTAMPED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) ")


def route(db: Path, key: str, since_step=None, stride: int = 1, limit: int = 2000):
    """The loss route's answer: (keys, [(step, value)])."""
    con = sqlite3.connect(db)
    try:
        keys = [r[0] for r in con.execute(LOSS_ROUTE_KEYS)]
        rows = con.execute(LOSS_ROUTE_POINTS, (key, since_step, since_step, stride, limit)).fetchall()
    finally:
        con.close()
    return keys, [(step, value if value is not None else (float(text) if text else None))
                  for step, _wall, value, text in rows]


def history(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT status, info, step FROM history ORDER BY seq").fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------- pieces
def test_a_restart_ignores_the_last_runs_status_json(tmp_path, monkeypatch):
    """The old status.json ("stopped", "done") says nothing about the new run until the
    trainer rewrites it: mirrored, it ended a resume that was under way."""
    db = make_db(tmp_path / "aitk_db.db")
    monkeypatch.setenv("LTX2_VOICE_HOME", str(REPO))
    job = type("Job", (), {"name": "voice", "meta": {}})()
    process = process_mod.LTX2VoiceTrainerProcess(0, job, {"type": "ltx2_voice_trainer", "training_folder":
                                                           str(tmp_path / "out"), "sqlite_db_path": str(db)})
    process._row = job_row.JobRow(db, "job-1")
    folder = tmp_path / "out" / "voice"
    folder.mkdir(parents=True)
    for stale in ({"state": "stopped", "step": 19, "total": 19}, {"state": "done", "step": 32, "total": 32}):
        (folder / "status.json").write_text(json.dumps({**stale, "updated_at": time.time() - 5}))
        process._launched_at = time.time()
        process._mirror(process._read_status())
        assert dump(db)["jobs"]["job-1"]["status"] == "running"  # not stopped, not completed
        process._final_row(2, process._read_status())  # the new child failed before writing status.json
        row = dump(db)["jobs"]["job-1"]
        assert (row["status"], row["info"]) == ("error", "the LTX-2 voice trainer exited with status 2")
        set_row(db, "UPDATE Job SET status = 'running' WHERE id = 'job-1'")
        process._row = job_row.JobRow(db, "job-1")
    (folder / "status.json").write_text(json.dumps({"state": "training", "step": 33, "total": 40, "s_per_it": 0.5,
                                                    "updated_at": time.time()}))
    process._mirror(process._read_status())
    row = dump(db)["jobs"]["job-1"]
    assert (row["status"], row["step"], row["info"], row["speed_string"]) == ("running", 33, "Training",
                                                                              "2.00 iter/sec")


def test_loss_log_answers_the_ui_route_and_follows_a_resume(tmp_path):
    """metrics.jsonl as the trainer writes it (RunOutput), loss_log.db as ai-toolkit's chart reads it."""
    out = RunOutput(tmp_path / "voice", "voice")
    for step in range(1, 7):
        out.append_metrics({"step": step, "loss": 1.0 / step, "video_loss": 0.5, "audio_loss_raw": 0.25,
                            "audio_loss_scaled": 0.1, "audio_loss": 0.25, "lr": 1e-4, "sigma_video": 0.3,
                            "audio_supervised_ratio": 1.0, "batch_items": 2, "s_per_it": 0.5, "time": 1000.0 + step})
    out.append_metrics({"step": 4, "voice_similarity": 0.75, "voice_similarity_00": 0.75, "voice_vs_base_00": None,
                        "time": 2000.0})
    log = loss_log.LossLog(out.folder)
    assert log.sync() == 7 and log.sync() == 0  # nothing new: nothing read
    db = out.folder / "loss_log.db"
    keys, points = route(db, "loss/loss")
    assert keys == ["audio/supervised_ratio", "learning_rate", "loss/audio_raw", "loss/audio_scaled", "loss/loss",
                    "loss/video", "speed/s_per_it", "voice/similarity", "voice/similarity_00"]
    assert points == [(s, 1.0 / s) for s in range(1, 7)]
    assert route(db, "loss/loss", since_step=4)[1] == [(5, 0.2), (6, 1 / 6)]  # the chart's live update
    assert route(db, "loss/loss", stride=2)[1] == [(2, 0.5), (4, 0.25), (6, 1 / 6)]
    assert route(db, "voice/similarity")[1] == [(4, 0.75)]
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT first_seen_step, last_seen_step FROM metric_keys WHERE key = 'loss/loss'").fetchone() \
        == (1, 6)
    con.close()

    # A line still being written waits for its end.
    with open(out.metrics_path, "a", encoding="utf-8") as handle:
        handle.write('{"step": 7, "loss": 0.1')
    assert log.sync() == 0
    with open(out.metrics_path, "a", encoding="utf-8") as handle:
        handle.write(', "time": 1007.0}\n')
    assert log.sync() == 1 and route(db, "loss/loss")[1][-1] == (7, 0.1)

    # Resumed from the checkpoint of step 3: the trainer drops the later records, so does the chart.
    out.drop_metrics_after(3)
    out.append_metrics({"step": 4, "loss": 0.9, "time": 3000.0})
    log.sync()
    keys, points = route(db, "loss/loss")
    assert points == [(1, 1.0), (2, 0.5), (3, 1 / 3), (4, 0.9)]
    assert "voice/similarity" not in keys  # its only point (step 4) belonged to the dropped run
    log.close()
    out.close()
    assert loss_log.chart_key("val_loss") == "val/loss" and loss_log.chart_key("validation_loss") == "val/loss"
    assert loss_log.chart_key("sigma_audio") is None and loss_log.chart_key("dop_video_loss") == "loss/dop_video"


class Sink:
    def __init__(self):
        self.writes: list[str] = []

    def write(self, text):
        self.writes.append(text)

    def flush(self):
        pass


def test_console_lines_are_passed_on_whole():
    sink = Sink()
    lines = console.LineSink(sink)
    lines.child("loaded LTX-2 from x\nvoice settings: timestep_")
    lines.own("ltx2_voice_trainer: Save now (ai-toolkit UI)")  # must not land inside the trainer's line
    lines.child("type=weighted\n\rvoice:  10%|█")  # a bar redraw is shown at once
    lines.own("ltx2_voice_trainer: stop requested")
    lines.child("\rvoice:  20%|██\n")
    lines.child("no end")
    lines.finish()
    assert "".join(sink.writes) == ("loaded LTX-2 from x\nltx2_voice_trainer: Save now (ai-toolkit UI)\n"
                                    "voice settings: timestep_type=weighted\n\rvoice:  10%|█"
                                    "\nltx2_voice_trainer: stop requested\n\rvoice:  20%|██\nno end\n")
    # Every write is whole lines, then at most a bar redraw: never a line cut short.
    assert all(w.rpartition("\n")[2] in ("", "\n") or w.rpartition("\n")[2].startswith("\r") for w in sink.writes)


class BrokenConsole:
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_trainer_leaves_log_txt_to_a_console_appended_to_it_until_that_console_breaks(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "voice"
    folder.mkdir()
    (folder / "log.txt").write_text("")  # ai-toolkit's worker opens it for the job's console first
    monkeypatch.setenv(CONSOLE_LOG_ENV, str(tmp_path / "." / "voice" / "log.txt"))
    out = RunOutput(folder, "voice")
    assert out.console_is_log
    out.info("loaded LTX-2 from somewhere")
    out.log_failure("the console shows this one (run.py prints it)")
    assert "loaded LTX-2 from somewhere" in capsys.readouterr().err
    assert (folder / "log.txt").read_text() == ""  # the console writes it: once, whole

    monkeypatch.setattr(sys, "stderr", BrokenConsole())  # ai-toolkit's process was killed
    out.info("step 5/500 loss 0.5")
    out.log_failure("BrokenPipeError: [Errno 32] Broken pipe")
    out.log_failure("BrokenPipeError: [Errno 32] Broken pipe")
    out.close()
    lines = (folder / "log.txt").read_text().splitlines()
    assert [TIMESTAMPED.sub("", line) for line in lines] == [
        "warning: the console is gone (BrokenPipeError: [Errno 32] Broken pipe); the log goes on in this file",
        "step 5/500 loss 0.5", "error: BrokenPipeError: [Errno 32] Broken pipe"]

    # Another log.txt (or none named): the trainer writes its file as always, a failure once.
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    monkeypatch.setenv(CONSOLE_LOG_ENV, str(tmp_path / "elsewhere.txt"))
    plain = RunOutput(tmp_path / "plain", "plain")
    assert not plain.console_is_log
    plain.info("hello")
    plain.log_failure("boom")
    plain.log_failure("boom")
    plain.close()
    assert [TIMESTAMPED.sub("", x) for x in (tmp_path / "plain" / "log.txt").read_text().splitlines()] == [
        "hello", "error: boom"]


# ---------------------------------------------------------------------------- end to end
def start_job(aitk: Path, db: Path, config: dict, folder: Path):
    """ai-toolkit's worker starting the job (startJob.ts): the row running with its flags
    cleared, an old log.txt moved to logs/<n>_log.txt, the job's console appended to log.txt."""
    set_row(db, "UPDATE Job SET status = 'running', stop = 0, return_to_queue = 0, info = 'Starting job...' "
                "WHERE id = 'job-1'")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log.txt"
    if log.exists():
        (folder / "logs").mkdir(exist_ok=True)
        number = len(list((folder / "logs").glob("*_log.txt")))
        log.rename(folder / "logs" / f"{number}_log.txt")
    (aitk / "job.json").write_text(json.dumps(config))
    # One thread: on a shared 2-core machine OpenMP spinning made the tiny model's steps 50x slower.
    env = dict(os.environ, LTX2_VOICE_HOME=str(REPO), AITK_JOB_ID="job-1", OMP_NUM_THREADS="1")
    with open(log, "a", encoding="utf-8") as handle:
        return subprocess.Popen([sys.executable, "driver.py", str(aitk / "job.json")], cwd=aitk, env=env,
                                stdout=handle, stderr=handle, stdin=subprocess.DEVNULL, start_new_session=True)


def wait_for(what: str, check, proc=None, log: Path | None = None):
    deadline = time.monotonic() + 600  # a guard against a hang, not a timing assertion
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the job ended waiting for {what}:\n{log.read_text()[-3000:] if log else ''}")
        assert time.monotonic() < deadline, f"waited 600 s for {what}"
        time.sleep(0.2)


def found(log: Path, pattern: str):
    match = re.search(pattern, log.read_text(encoding="utf-8")) if log.exists() else None
    return match


def test_a_job_in_ai_toolkits_ui_saves_samples_returns_to_the_queue_resumes_and_survives_a_hard_kill(
        tiny_model_dir, clip_data, tmp_path):
    aitk = apply_patch(tmp_path / "aitk")
    db = make_db(aitk / "aitk_db.db")
    con = sqlite3.connect(db)
    con.executescript(HISTORY)
    con.close()
    before = dump(db)
    folder = tmp_path / "out" / "voice"
    log = folder / "log.txt"
    config = extension_config(tiny_model_dir, clip_data, tmp_path / "out", db, steps=500)
    config["config"]["process"][0]["train"].update(disable_sampling=False, skip_first_sample=True)
    config["config"]["process"][0]["sample"]["voice_metric"] = False
    row = lambda: dump(db)["jobs"]["job-1"]  # noqa: E731

    # 1. Start; Save now, Sample now, then return to the queue.
    proc = start_job(aitk, db, config, folder)
    trainer_pid = None
    try:
        wait_for("step 2 in the row", lambda: row()["step"] >= 2, proc, log)
        assert (folder / "loss_log.db").is_file()
        set_row(db, "UPDATE Job SET save_now = 1 WHERE id = 'job-1'")
        saved = int(wait_for("the save", lambda: found(log, r"save requested: saving at step (\d+)"), proc, log)[1])
        wait_for("the saved file", lambda: found(log, rf"saved voice_{saved:09d}\.safetensors"), proc, log)
        assert row()["save_now"] == 0  # taken, as ai-toolkit's trainer clears it
        set_row(db, "UPDATE Job SET sample_now = 1 WHERE id = 'job-1'")
        sampled = int(wait_for("the samples", lambda: found(log, r"samples for step (\d+): "), proc, log)[1])
        assert row()["sample_now"] == 0 and sampled >= saved
        assert (folder / "samples" / f"{sampled:09d}_00.mp4").is_file()
        set_row(db, "UPDATE Job SET return_to_queue = 1, info = 'Stopping job...' WHERE id = 'job-1'")  # processQueue.ts
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    first_log = log.read_text(encoding="utf-8")
    assert "DRIVER-RETURNED 0" in first_log, first_log[-3000:]
    stopped = json.loads((folder / "status.json").read_text())
    first_stop = stopped["step"]
    assert stopped["state"] == "stopped" and first_stop >= sampled
    assert (row()["status"], row()["info"], row()["step"]) == ("queued", "Job queued", first_stop)
    assert (folder / f"voice_{saved:09d}.safetensors").is_file() and (folder / f"voice_{first_stop:09d}.state.pt").is_file()
    # The job's log: the trainer's lines once each and whole (the console writes the file alone).
    assert first_log.count("loaded LTX-2 from") == 1 and first_log.count("save requested: saving at step") == 1
    assert not TIMESTAMPED.search(first_log)

    # 2. Start again (the worker moves log.txt aside): the resume is not taken for the last run's end.
    con = sqlite3.connect(db)
    con.execute("DELETE FROM history")
    con.commit()
    con.close()
    proc = start_job(aitk, db, config, folder)
    try:
        wait_for("new steps", lambda: row()["step"] >= first_stop + 3, proc, log)
        assert {status for status, _info, _step in history(db)} == {"running"}, history(db)
        assert f"resuming from step {first_stop}" in log.read_text(encoding="utf-8")
        assert row()["info"] == "Training" and row()["speed_string"].endswith(("iter/sec", "sec/iter"))
        trainer_pid = json.loads((folder / "run.lock").read_text())["pid"]

        # 3. ai-toolkit's process killed hard: the trainer's console is gone, it says so in log.txt.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        wait_for("the trainer's exit", lambda: not psutil.pid_exists(trainer_pid)
                 or psutil.Process(trainer_pid).status() == psutil.STATUS_ZOMBIE)
    finally:
        if proc.poll() is None:
            proc.kill()
        if trainer_pid is not None and psutil.pid_exists(trainer_pid):
            psutil.Process(trainer_pid).kill()
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "error" and "BrokenPipeError" in status["error"]
    second_log = log.read_text(encoding="utf-8")
    assert (folder / "logs" / "0_log.txt").read_text(encoding="utf-8") == first_log
    assert second_log.count("loaded LTX-2 from") == 1
    assert "the console is gone (BrokenPipeError" in second_log
    assert f"error: {status['error']}" in second_log
    # The lines the trainer wrote itself after the console broke start their own lines.
    glued = [line for line in second_log.splitlines() if (m := TIMESTAMPED.search(line)) and m.start() > 0]
    assert not glued, glued

    # 4. The loss chart, read as ai-toolkit's loss route reads it.
    keys, points = route(folder / "loss_log.db", "loss/loss")
    assert {"loss/loss", "loss/video", "loss/audio_raw", "loss/audio_scaled", "learning_rate"} <= set(keys)
    records = {r["step"]: r for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines())
               if "loss" in r}
    steps = [step for step, _ in points]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > first_stop  # both runs, each step once
    assert all(value == records[step]["loss"] for step, value in points)

    # Only the columns the extension owns changed; nothing else in the database.
    after = dump(db)
    untouched = ("name", "gpu_ids", "job_config", "created_at", "updated_at", "queue_position", "pid", "job_type",
                 "job_ref")
    assert {k: row()[k] for k in untouched} == {k: before["jobs"]["job-1"][k] for k in untouched}
    assert after["jobs"]["job-2"] == before["jobs"]["job-2"] and after["settings"] == before["settings"]

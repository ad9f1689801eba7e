"""patches/: the trainer as an ai-toolkit extension, applied to a scratch checkout and run
through ai-toolkit's extension contract against the tiny model (docs/ai-toolkit.md). A job
driven through ai-toolkit's UI end to end (start, Save now, Sample now, return to the queue,
restart, a hard kill, the loss chart) is in test_ai_toolkit_ui.py.

ai-toolkit itself is not needed: the scratch folder has what the contract needs (an
`extensions/` folder, and a `toolkit` package of its own that the extension must not
import), and DRIVER below is the discovery contract: import every package under
`extensions/`, read `AI_TOOLKIT_EXTENSIONS`, map `uid` -> `get_process()`, construct the
process as `(process_id, job, config)` and call `run()`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_config

from patches import build

REPO = Path(__file__).resolve().parents[1]

DRIVER = r'''
import importlib, json, os, pkgutil, sys, types
sys.path.insert(0, os.getcwd())
processes = {}
for _, name, _ in pkgutil.iter_modules([os.path.join(os.getcwd(), "extensions")]):
    module = importlib.import_module(f"extensions.{name}")
    for ext in getattr(module, "AI_TOOLKIT_EXTENSIONS", None) or []:
        assert ext.uid not in processes, f"duplicate uid {ext.uid}"
        processes[ext.uid] = ext.get_process()
with open(sys.argv[1], encoding="utf-8") as handle:
    config = json.load(handle)["config"]
job = types.SimpleNamespace(name=config["name"], meta={})
section = config["process"][0]
process = processes[section["type"]](0, job, section)
try:
    code = process.run()
except Exception as exc:
    print(f"DRIVER-RAISED {type(exc).__name__} {getattr(exc, 'exit_status', None)}: {exc}")
    sys.exit(1)
print(f"DRIVER-RETURNED {code}")
'''

# The columns of ai-toolkit's `Job` model (ui/prisma/schema.prisma) as Prisma creates them.
JOB_TABLE = """CREATE TABLE "Job" (
    "id" TEXT NOT NULL PRIMARY KEY, "name" TEXT NOT NULL, "gpu_ids" TEXT NOT NULL,
    "job_config" TEXT NOT NULL, "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL, "status" TEXT NOT NULL DEFAULT 'stopped',
    "stop" BOOLEAN NOT NULL DEFAULT false, "return_to_queue" BOOLEAN NOT NULL DEFAULT false,
    "step" INTEGER NOT NULL DEFAULT 0, "total_steps" INTEGER, "info" TEXT NOT NULL DEFAULT '',
    "speed_string" TEXT NOT NULL DEFAULT '', "queue_position" INTEGER NOT NULL DEFAULT 0,
    "pid" INTEGER, "job_type" TEXT NOT NULL DEFAULT 'train', "job_ref" TEXT,
    "save_now" BOOLEAN NOT NULL DEFAULT false, "sample_now" BOOLEAN NOT NULL DEFAULT false)"""


def make_db(path: Path, table: str = JOB_TABLE) -> Path:
    conn = sqlite3.connect(path)
    conn.execute(table)
    conn.execute('CREATE TABLE "Settings" ("key" TEXT PRIMARY KEY, "value" TEXT)')
    conn.execute("INSERT INTO Settings VALUES ('TRAINING_FOLDER', '/somewhere')")
    for job_id, name in (("job-1", "voice"), ("job-2", "other")):
        conn.execute("INSERT INTO Job (id, name, gpu_ids, job_config, updated_at, status) "
                     "VALUES (?, ?, '0', '{}', '2026-11-30', 'running')", (job_id, name))
    conn.commit()
    conn.close()
    return path


def dump(db: Path) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {"jobs": {r["id"]: dict(r) for r in conn.execute("SELECT * FROM Job")},
                "settings": [tuple(r) for r in conn.execute("SELECT * FROM Settings")]}
    finally:
        conn.close()


def apply_patch(root: Path) -> Path:
    """A scratch ai-toolkit checkout with the patch applied the way users do it."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "toolkit").mkdir()
    # ai-toolkit's own `toolkit` package shadows the trainer's: the extension must never import it.
    (root / "toolkit" / "__init__.py").write_text("raise ImportError('ai-toolkit toolkit, not the trainer')\n")
    subprocess.run(["git", "apply", str(build.PATCH)], cwd=root, check=True)
    (root / "driver.py").write_text(DRIVER)
    return root


def load_extension(name: str = "ltx2_voice_under_test"):
    """The extension package from its sources (the test below shows the patch carries the same bytes)."""
    src = build.SOURCES / "ltx2_voice"
    spec = importlib.util.spec_from_file_location(name, src / "__init__.py", submodule_search_locations=[str(src)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_driver(aitk: Path, config: dict, job_id: str | None, popen: bool = False):
    path = aitk / "job.json"
    path.write_text(json.dumps(config))
    # One thread: on a shared 2-core machine OpenMP spinning made the tiny model's steps 50x slower.
    env = dict(os.environ, LTX2_VOICE_HOME=str(REPO), OMP_NUM_THREADS="1")
    env.pop("AITK_JOB_ID", None)
    if job_id:
        env["AITK_JOB_ID"] = job_id
    args = dict(cwd=aitk, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if popen:
        return subprocess.Popen([sys.executable, "driver.py", str(path)], **args)
    return subprocess.run([sys.executable, "driver.py", str(path)], timeout=600, **args)


def extension_config(model, data, out, db: Path, steps: int, **overrides) -> dict:
    config = tiny_config(model, data, out, name="voice", steps=steps, **overrides)
    section = config["config"]["process"][0]
    section["type"] = "ltx2_voice_trainer"
    section["sqlite_db_path"] = str(db)
    return config


# ---------------------------------------------------------------------------- the patch file
def test_committed_patch_is_current_applies_and_reverts(tmp_path):
    assert build.PATCH.read_bytes() == build.build_patch(), "run: python -m patches.build"
    assert build.build_patch() == build.build_patch()
    repo = tmp_path / "aitk"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "apply", "--check", str(build.PATCH)], cwd=repo, check=True)
    subprocess.run(["git", "apply", str(build.PATCH)], cwd=repo, check=True)
    added = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts)
    sources = build.source_files()
    assert added == sorted(f"extensions/{p.relative_to(build.SOURCES).as_posix()}" for p in sources)
    assert all(a.startswith("extensions/ltx2_voice/") for a in added)
    for src in sources:
        assert (repo / "extensions" / src.relative_to(build.SOURCES)).read_bytes() == src.read_bytes()
    subprocess.run(["git", "apply", "-R", str(build.PATCH)], cwd=repo, check=True)
    assert not any(p.is_file() for p in (repo / "extensions").rglob("*"))
    if shutil.which("patch"):
        plain = tmp_path / "plain"
        plain.mkdir()
        with open(build.PATCH, "rb") as handle:
            subprocess.run(["patch", "-p1", "-s"], stdin=handle, cwd=plain, check=True)
        assert (plain / "extensions/ltx2_voice/process.py").read_bytes() == \
            (build.SOURCES / "ltx2_voice/process.py").read_bytes()


def test_build_refuses_a_source_without_final_newline(tmp_path):
    (tmp_path / "ltx2_voice").mkdir()
    (tmp_path / "ltx2_voice" / "x.py").write_text("x = 1")
    with pytest.raises(build.PatchSourceError, match="x.py: does not end with a newline"):
        build.build_patch(tmp_path)


# ---------------------------------------------------------------------------- pieces
def test_trainer_home_errors_name_the_setting(tmp_path, monkeypatch):
    ext = load_extension()
    process_cls = ext.AI_TOOLKIT_EXTENSIONS[0].get_process()
    job = type("Job", (), {"name": "voice", "meta": {}})()
    monkeypatch.delenv("LTX2_VOICE_HOME", raising=False)
    with pytest.raises(ValueError, match="LTX2_VOICE_HOME environment variable, or `trainer_home"):
        process_cls(0, job, {"type": "ltx2_voice_trainer"})
    aitk = tmp_path / "ai-toolkit"
    aitk.mkdir()
    (aitk / "run.py").write_text("")  # ai-toolkit has a run.py too
    with pytest.raises(ValueError, match=r"ai-toolkit.*is not the LTX-2 voice trainer: toolkit/configuration/loader.py"):
        process_cls(0, job, {"type": "ltx2_voice_trainer", "trainer_home": str(aitk)})
    monkeypatch.setenv("LTX2_VOICE_HOME", str(aitk))
    with pytest.raises(ValueError, match="from the LTX2_VOICE_HOME environment variable"):
        process_cls(0, job, {"type": "ltx2_voice_trainer"})
    # the key wins over the environment
    assert process_cls(0, job, {"type": "ltx2_voice_trainer", "trainer_home": str(REPO)}).home == REPO


def test_job_row_writes_only_its_columns_and_warns_once_for_missing_ones(tmp_path):
    ext_row = importlib.import_module(f"{load_extension().__name__}.job_row")
    old_table = re.sub(r'"(speed_string|return_to_queue)"[^,]*,\s*', "", JOB_TABLE)  # an older UI's table
    db = make_db(tmp_path / "aitk_db.db", old_table)
    before = dump(db)
    warnings = []
    row = ext_row.JobRow(db, "job-1", warn=warnings.append)
    status = {"state": "training", "step": 7, "total": 20, "s_per_it": 0.25, "error": None}
    row.write(ext_row.row_values(status))
    row.write(ext_row.row_values(dict(status, step=8, s_per_it=2.5)))
    after = dump(db)
    assert len(warnings) == 1 and "speed_string" in warnings[0] and "return_to_queue" in warnings[0]
    mine = after["jobs"]["job-1"]
    assert (mine["status"], mine["step"], mine["total_steps"], mine["info"]) == ("running", 8, 20, "Training")
    unchanged = {k: v for k, v in mine.items() if k not in ("status", "step", "total_steps", "info")}
    assert unchanged == {k: v for k, v in before["jobs"]["job-1"].items() if k in unchanged}
    assert after["jobs"]["job-2"] == before["jobs"]["job-2"] and after["settings"] == before["settings"]
    idle = {"stop": False, "return_to_queue": False, "save_now": False, "sample_now": False}
    assert row.flags() == idle
    sqlite3.connect(db).execute("UPDATE Job SET stop = 1, save_now = 1 WHERE id = 'job-1'").connection.commit()
    assert row.flags() == dict(idle, stop=True, save_now=True)
    row.clear("save_now")
    assert row.flags() == dict(idle, stop=True)
    with pytest.raises(ValueError, match="stop is not a request flag"):
        row.clear("stop")
    assert ext_row.speed_string(0.25) == "4.00 iter/sec" and ext_row.speed_string(2.5) == "2.50 sec/iter"
    err = ext_row.row_values({"state": "error", "step": 3, "total": 9, "error": "datasets[0].folder_path missing"})
    assert err["status"] == "error" and err["info"] == "datasets[0].folder_path missing"


def test_return_to_queue_and_the_final_row(tmp_path, monkeypatch):
    """"Return to queue" is a stop request that ends `queued`; a finished run ends `completed`."""
    ext = load_extension()
    process_mod = importlib.import_module(f"{ext.__name__}.process")
    db = make_db(tmp_path / "aitk_db.db")
    monkeypatch.setenv("LTX2_VOICE_HOME", str(REPO))
    job = type("Job", (), {"name": "voice", "meta": {}})()
    process = process_mod.LTX2VoiceTrainerProcess(0, job, {"type": "ltx2_voice_trainer", "sqlite_db_path": str(db)})
    process._row = importlib.import_module(f"{ext.__name__}.job_row").JobRow(db, "job-1")
    process._stop_file = tmp_path / "stop"
    process._check_flags()
    assert not process._stop_reason and not process._stop_file.exists()
    set_row(db, "UPDATE Job SET return_to_queue = 1 WHERE id = 'job-1'")
    process._check_flags()
    assert "returning to the queue" in process._stop_reason and process._stop_file.exists()
    process._final_row(0, {"state": "stopped", "step": 4, "total": 10, "s_per_it": 0.5})
    row = dump(db)["jobs"]["job-1"]
    assert (row["status"], row["info"], row["step"]) == ("queued", "Job queued", 4)
    # The UI's Stop: the same request, the row ends "stopped".
    process._stop_reason = ""
    set_row(db, "UPDATE Job SET return_to_queue = 0, stop = 1 WHERE id = 'job-1'")
    process._check_flags()
    assert process._stop_reason == "stop requested (ai-toolkit UI)"
    process._final_row(130, {"state": "stopped", "step": 5, "total": 10, "s_per_it": 0.5})
    row = dump(db)["jobs"]["job-1"]
    assert (row["status"], row["info"], row["step"]) == ("stopped", "Job stopped", 5)
    process._stop_reason = ""
    process._final_row(0, {"state": "done", "step": 10, "total": 10, "s_per_it": 0.5})
    row = dump(db)["jobs"]["job-1"]
    assert (row["status"], row["info"], row["step"], row["speed_string"]) == (
        "completed", "Training completed", 10, "2.00 iter/sec")


def test_failed_trainer_raises_with_its_exit_status_and_the_row_says_why(tmp_path):
    aitk = apply_patch(tmp_path / "aitk")
    db = make_db(aitk / "aitk_db.db")
    config = extension_config(tmp_path / "no-model", tmp_path / "no-data", tmp_path / "out", db, steps=2)
    config["config"]["process"][0]["train"]["stpes"] = 3  # a typo: the trainer's config check exits 2
    result = run_driver(aitk, config, "job-1")
    assert "DRIVER-RAISED TrainerFailed 2" in result.stdout, result.stdout
    assert "train.stpes" in result.stdout  # the trainer's own message, streamed through
    row = dump(db)["jobs"]["job-1"]
    assert row["status"] == "error" and "exit" in row["info"] and "status 2" in row["info"]


def test_trainer_stops_when_the_stop_file_appears(tmp_path, monkeypatch):
    """Windows has no SIGINT for a console-less child: the extension creates LTX2_STOP_FILE instead."""
    from jobs.process.BaseSDTrainProcess import StopRequest

    stop_file = tmp_path / "stop"
    monkeypatch.setenv("LTX2_STOP_FILE", str(stop_file))
    with StopRequest() as stop:
        assert not stop.requested
        stop_file.write_text("stop requested (ai-toolkit UI)")
        assert stop.requested and str(stop_file) in stop.signal_name


# ---------------------------------------------------------------------------- helpers
def set_row(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute(sql)
    conn.commit()
    conn.close()


"""run.py: exit codes, one-line errors, --schema, --validate --json, -n, -l, dispatch."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

import run
from toolkit.errors import RunFailed

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config/examples/ltx2_character_lora.yaml"


def cli(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=60, env=env)


def config_file(tmp_path: Path, name: str = "c.yaml", **process) -> Path:
    proc = {"model": {"name_or_path": "Lightricks/LTX-2"}, "datasets": [{"folder_path": "/d"}]}
    proc.update(process)
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"job": "extension",
                                    "config": {"name": "[name]", "process": [proc]}}))
    return path


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# ------------------------------------------------------------------ subprocess

def test_unknown_key_exits_2_with_suggestion(tmp_path):
    path = config_file(tmp_path, network={"linaer": 16})
    result = cli(path, "-n", "x")
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"error: {path}: config.process[0].network.linaer: unknown key 'linaer' — "
        "did you mean 'linear'?"]
    assert "Traceback" not in result.stderr


def test_missing_config_file_one_line_and_traceback_only_with_verbose(tmp_path):
    result = cli(tmp_path / "nope.yaml")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: config file not found: {tmp_path / 'nope.yaml'}"
    verbose = cli(tmp_path / "nope.yaml", "--verbose")
    assert verbose.returncode == 2
    assert "Traceback" in verbose.stderr and verbose.stderr.strip().endswith("nope.yaml")


def test_schema_is_json_with_audio_fields():
    result = cli("--schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert "independent_audio_timestep" in schema["$defs"]["TrainConfig"]["properties"]


def test_validate_json_lists_every_issue_with_paths(tmp_path):
    path = config_file(tmp_path, train={"lr": 0}, model={},
                       datasets=[{"folder_path": "d", "num_frames": 10, "resolution": 500}])
    result = cli("--validate", "--json", "-n", "v", path)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    paths = {i["path"] for i in report["issues"]}
    assert paths == {"config.process[0].train.lr", "config.process[0].model.name_or_path",
                     "config.process[0].datasets[0].num_frames",
                     "config.process[0].datasets[0].resolution"}
    assert all(i["message"] for i in report["issues"])


def test_validate_json_ok_with_warnings(tmp_path, hub_cache):
    path = config_file(tmp_path, logging={"use_wandb": True})
    result = cli("--validate", "--json", "--name", "good", path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["issues"] == []
    assert len(report["warnings"]) == 1 and "logging.use_wandb" in report["warnings"][0]


def test_validate_example_and_name_override(hub_cache):
    result = cli("--validate", EXAMPLE, "-n", "renamed")
    assert result.returncode == 0, result.stderr
    assert "(renamed)" in result.stdout


def test_bad_config_fails_fast_without_importing_torch(tmp_path):
    path = config_file(tmp_path, train={"lr": 0})
    code = ("import sys, run\n"
            f"rc = run.main([{str(path)!r}, '-n', 'x'])\n"
            "print(rc, 'torch' in sys.modules, 'diffusers' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.split() == ["2", "False", "False"], result.stderr


def test_log_file_gets_a_copy_of_the_output(tmp_path):
    log = tmp_path / "logs" / "run.log"
    result = cli(tmp_path / "nope.yaml", "-l", log)
    assert result.returncode == 2
    assert "config file not found" in log.read_text()


def test_usage_errors_exit_2():
    assert cli().returncode == 2
    assert cli("--json", EXAMPLE).returncode == 2


# ------------------------------------------------------------------ dispatch (in process)

@pytest.fixture
def trainer(monkeypatch, hub_cache):
    """A stand-in for jobs.process.BaseSDTrainProcess that records its calls (the configs name
    Lightricks/LTX-2: the start-up checks before it find it in the fake cache)."""
    module = types.ModuleType(run.TRAINER_MODULE)
    module.calls = []
    module.behaviour = {}

    def run_process(process, **kw):
        module.calls.append((process, kw))
        action = module.behaviour.get(kw["job_name"])
        if action is not None:
            raise action

    module.run_process = run_process
    monkeypatch.setitem(sys.modules, run.TRAINER_MODULE, module)
    return module


def test_each_process_goes_to_run_process(tmp_path, trainer):
    path = config_file(tmp_path)
    assert run.main([str(path), "-n", "one"]) == 0
    (process, kw), = trainer.calls
    assert process.model.name_or_path == "Lightricks/LTX-2"
    assert kw["job_name"] == "one" and kw["restart"] is False and "verbose" not in kw
    assert kw["config_path"] == path and kw["raw_config"]["config"]["name"] == "one"


def test_failures_map_to_exit_codes_and_recover_continues(tmp_path, trainer, capsys):
    a, b = config_file(tmp_path, "a.yaml"), config_file(tmp_path, "b.yaml")
    for path, name in ((a, "alpha"), (b, "beta")):
        data = yaml.safe_load(path.read_text())
        data["config"]["name"] = name
        path.write_text(yaml.safe_dump(data))
    trainer.behaviour["alpha"] = RunFailed("strict audio mode: only 10% of steps had audio")
    assert run.main([str(a), str(b)]) == 1
    assert [kw["job_name"] for _, kw in trainer.calls] == ["alpha"]
    err = capsys.readouterr().err
    assert error_lines(err) == ["error: strict audio mode: only 10% of steps had audio"]

    trainer.calls.clear()
    assert run.main([str(a), str(b), "-r"]) == 1
    assert [kw["job_name"] for _, kw in trainer.calls] == ["alpha", "beta"]
    assert "continuing with the next config" in capsys.readouterr().err

    trainer.behaviour["alpha"] = ValueError("boom")
    assert run.main([str(a)]) == 1
    assert error_lines(capsys.readouterr().err) == [
        "error: unexpected failure: ValueError: boom (run with --verbose for the traceback)"]

    trainer.behaviour["alpha"] = KeyboardInterrupt()
    assert run.main([str(a)]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_a_stopped_run_stops_the_program_with_the_signals_code(tmp_path, trainer, capsys):
    from toolkit.errors import Interrupted

    a, b = config_file(tmp_path, "a.yaml"), config_file(tmp_path, "b.yaml")
    for path, name in ((a, "alpha"), (b, "beta")):
        data = yaml.safe_load(path.read_text())
        data["config"]["name"] = name
        path.write_text(yaml.safe_dump(data))
    trainer.behaviour["alpha"] = Interrupted("SIGTERM", saved=True)
    assert run.main([str(a), str(b), "-r"]) == 143  # -r continues after failures, never after a stop
    assert [kw["job_name"] for _, kw in trainer.calls] == ["alpha"]
    assert capsys.readouterr().err.strip() == "stopped by SIGTERM; the checkpoint is saved"
    trainer.calls.clear()
    trainer.behaviour["alpha"] = Interrupted("SIGINT")
    assert run.main([str(a), str(b), "-r"]) == 130
    assert [kw["job_name"] for _, kw in trainer.calls] == ["alpha"]
    assert capsys.readouterr().err.strip() == "interrupted (Ctrl-C): stopped"


def test_restart_reaches_the_trainer(tmp_path, trainer):
    path = config_file(tmp_path)
    assert run.main([str(path), "-n", "one", "--restart"]) == 0
    assert trainer.calls[0][1]["restart"] is True


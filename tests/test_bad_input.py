"""Bad paths stop with one line naming the problem and exit code 2 (traceback with --verbose)."""

from __future__ import annotations

import subprocess
import sys

import yaml
from conftest import REPO, tiny_config


def run_cli(config_path, *extra):
    return subprocess.run([sys.executable, str(REPO / "run.py"), str(config_path), *extra],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


def write(tmp_path, data):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_missing_dataset_folder(tmp_path, tiny_model_dir):
    path = write(tmp_path, tiny_config(tiny_model_dir, tmp_path / "nope", tmp_path / "out"))
    result = run_cli(path)
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "nope" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_dataset_folder_without_media(tmp_path, tiny_model_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no media here")
    result = run_cli(write(tmp_path, tiny_config(tiny_model_dir, empty, tmp_path / "out")))
    assert result.returncode == 2
    assert "empty" in error_lines(result.stderr)[0]
    assert "Traceback" not in result.stderr


def test_model_path_that_does_not_exist(tmp_path, synthetic_dir):
    path = write(tmp_path, tiny_config(tmp_path / "no_model", synthetic_dir, tmp_path / "out"))
    result = run_cli(path)
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "no_model" in lines[0] and "does not exist" in lines[0]
    verbose = run_cli(path, "--verbose")
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr


def test_missing_config_file(tmp_path):
    result = run_cli(tmp_path / "missing.yaml")
    assert result.returncode == 2 and "missing.yaml" in result.stderr and "Traceback" not in result.stderr

"""status.json and metrics.jsonl details the web UI relies on: a resumed run keeps its
progress while it loads, and each step reports the trainer's own peak memory."""

from __future__ import annotations

import json

from toolkit.run.output import RunOutput


def _status(folder):
    return json.loads((folder / "status.json").read_text())


def test_a_resumed_run_keeps_its_progress_while_it_loads(tmp_path):
    first = RunOutput(tmp_path / "run", "run")
    first.update_status(state="stopped", step=6, total=20, last_checkpoint="run_000000006.safetensors")
    first.close()

    again = RunOutput(tmp_path / "run", "run")
    again.update_status(state="loading", total=20)
    status = _status(tmp_path / "run")
    assert status["state"] == "loading"
    assert status["step"] == 6 and status["last_checkpoint"] == "run_000000006.safetensors"
    again.close()


def test_each_step_records_the_peak_memory(tmp_path):
    out = RunOutput(tmp_path / "run", "run")
    blob = bytearray(64 << 20)  # the process's peak holds at least this much
    out.append_metrics({"step": 1, "loss": 0.5})
    out.update_status(state="training", step=1, total=2)
    del blob
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert record["peak_mem_gb"] >= 64 / 1024
    assert record["peak_mem_kind"] in ("cuda_allocated", "process_peak_rss")
    # The status of the same step carries the same reading (one reading per step).
    assert _status(tmp_path / "run")["peak_mem_gb"] == record["peak_mem_gb"]
    out.close()

"""ai-toolkit's loss chart: `<job folder>/loss_log.db`, filled from the trainer's `metrics.jsonl`.

ai-toolkit's UI draws a job's loss chart from this SQLite file (its own trainer writes it when
`logging.use_ui_logger` is on). The file has three tables: `steps(step, wall_time)`,
`metric_keys(key, first_seen_step, last_seen_step)` and `metrics(step, key, value_real,
value_text)`, one row per step and key, WAL journal. The chart shows `loss/loss` and
`val/loss` at first and lists every other key to switch on.

The trainer writes one JSON object per logged step to `metrics.jsonl` (and a row per
sampling with the voice similarity). This module reads what was appended since the last
poll and upserts it. On resume the trainer rewrites `metrics.jsonl` without the steps after
its checkpoint: a file that was replaced (or shrank) is read again from the start and the
chart is rebuilt from it, so the steps it dropped leave the chart too (ai-toolkit's logger
prunes them the same way). The extension's first read of a job is such a rebuild.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

DB_NAME = "loss_log.db"
METRICS_NAME = "metrics.jsonl"

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS steps (step INTEGER PRIMARY KEY, wall_time REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS metric_keys (key TEXT PRIMARY KEY, first_seen_step INTEGER, last_seen_step INTEGER)",
    "CREATE TABLE IF NOT EXISTS metrics (step INTEGER NOT NULL, key TEXT NOT NULL, value_real REAL, value_text TEXT, "
    "PRIMARY KEY (step, key), FOREIGN KEY (step) REFERENCES steps(step) ON DELETE CASCADE)",
    "CREATE INDEX IF NOT EXISTS idx_metrics_key_step ON metrics (key, step)",
)

# The trainer's metric -> the chart's key (ai-toolkit names: "loss/<part>", "learning_rate", "val/...").
CHART_KEYS = {
    "loss": "loss/loss",
    "video_loss": "loss/video",
    "audio_loss_raw": "loss/audio_raw",
    "audio_loss_scaled": "loss/audio_scaled",
    "audio_preservation_loss": "loss/audio_preservation",
    "dop_video_loss": "loss/dop_video",
    "dop_audio_loss": "loss/dop_audio",
    "lr": "learning_rate",
    "audio_multiplier": "audio/multiplier",
    "audio_supervised_ratio": "audio/supervised_ratio",
    "speech_ratio": "audio/speech_ratio",  # of the same items, those with speech (strict audio mode's share)
    "s_per_it": "speed/s_per_it",
}
# Not charted: the step's own bookkeeping, counts, random draws, memory and a duplicate.
NOT_CHARTED = {"step", "time", "audio_loss", "sigma_video", "sigma_audio", "batch_items", "audio_supervised_items",
               "i2v_items", "skipped", "peak_mem_gb", "peak_mem_kind"}


def chart_key(name: str) -> str | None:
    """The chart key of one metrics.jsonl key, or None when it is not charted. Validation
    metrics ("val_*", "validation_*") become "val/...", voice metrics "voice/..."."""
    if name in NOT_CHARTED:
        return None
    if name in CHART_KEYS:
        return CHART_KEYS[name]
    for prefix, group in (("validation_", "val"), ("val_", "val"), ("voice_", "voice")):
        if name.startswith(prefix):
            return f"{group}/{name[len(prefix):]}"
    if name.endswith("_loss"):
        return f"loss/{name[:-len('_loss')]}"
    return None


def _value(value):
    """(value_real, value_text) as ai-toolkit stores them; None for a value not charted."""
    if isinstance(value, bool):
        return float(value), None
    if isinstance(value, (int, float)):
        return (float(value), None) if math.isfinite(value) else None
    if isinstance(value, str):
        return None, value
    return None


class LossLog:
    """Keeps `loss_log.db` in step with `metrics.jsonl` in one job folder; call `sync()` often."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.db_path = self.folder / DB_NAME
        self.metrics_path = self.folder / METRICS_NAME
        self._identity = None  # (device, inode) of the metrics file read so far
        self._offset = 0  # bytes of it taken (whole lines only)
        self._con: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._con is None:
            con = sqlite3.connect(str(self.db_path), timeout=30.0, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            for statement in SCHEMA:
                con.execute(statement)
            self._con = con
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def sync(self) -> int:
        """Read what metrics.jsonl gained since the last call and write it; returns the number
        of records written. A missing metrics.jsonl (nothing logged yet) writes nothing."""
        try:
            stat = self.metrics_path.stat()
        except FileNotFoundError:
            return 0
        identity = (stat.st_dev, stat.st_ino)
        rewritten = identity != self._identity or stat.st_size < self._offset
        if rewritten:
            self._offset = 0
        if stat.st_size == self._offset and not rewritten:
            return 0
        with open(self.metrics_path, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1  # a line still being written is taken next time
        records = []
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill: the trainer drops it on resume
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                records.append(record)
        self._write(records, rebuild=rewritten)
        self._identity = identity
        self._offset += end
        return len(records)

    def _write(self, records: list[dict], rebuild: bool) -> None:
        con = self._connect()
        con.execute("BEGIN IMMEDIATE")
        try:
            if rebuild:  # the whole file follows: what it no longer has goes (metrics cascade with steps)
                con.execute("DELETE FROM steps")
                con.execute("DELETE FROM metric_keys")
            for record in records:
                step = record["step"]
                wall_time = record.get("time")
                if not isinstance(wall_time, (int, float)):
                    wall_time = self.metrics_path.stat().st_mtime
                con.execute("INSERT INTO steps(step, wall_time) VALUES (?, ?) "
                            "ON CONFLICT(step) DO UPDATE SET wall_time = excluded.wall_time", (step, float(wall_time)))
                for name, raw in record.items():
                    key, value = chart_key(name), _value(raw)
                    if key is None or value is None:
                        continue
                    con.execute("INSERT INTO metrics(step, key, value_real, value_text) VALUES (?, ?, ?, ?) "
                                "ON CONFLICT(step, key) DO UPDATE SET value_real = excluded.value_real, "
                                "value_text = excluded.value_text", (step, key, *value))
                    con.execute("INSERT INTO metric_keys(key, first_seen_step, last_seen_step) VALUES (?, ?, ?) "
                                "ON CONFLICT(key) DO UPDATE SET "
                                "first_seen_step = MIN(metric_keys.first_seen_step, excluded.first_seen_step), "
                                "last_seen_step = MAX(metric_keys.last_seen_step, excluded.last_seen_step)",
                                (key, step, step))
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

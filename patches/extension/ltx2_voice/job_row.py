"""ai-toolkit's web UI job row: the trainer's status.json mirrored into it, its buttons' flags read from it.

ai-toolkit's UI keeps jobs in a SQLite table `Job` and runs each with `AITK_JOB_ID` set and
`sqlite_db_path` in the process config. Its job page reads `status`, `step`,
`total_steps`, `info` and `speed_string` from that row; its Stop button sets `stop` (and
"return to queue" sets `return_to_queue`), its Save now and Sample now buttons set
`save_now` and `sample_now`, which the job sets back to 0 when it takes them (as
ai-toolkit's own trainer does). Only those columns of that one row are touched: the UI owns
the database.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

WRITTEN = ("status", "step", "total_steps", "info", "speed_string")
READ = ("stop", "return_to_queue", "save_now", "sample_now")
CLEARED = ("save_now", "sample_now")  # set back to 0 once taken

# status.json `state` -> the UI's statuses (running, stopped, error, completed; queued after
# return_to_queue, as ai-toolkit's own trainer does).
STATE_TO_STATUS = {"starting": "running", "loading": "running", "caching": "running",
                   "training": "running", "sampling": "running",
                   "stopped": "stopped", "done": "completed", "error": "error"}
STATE_TO_INFO = {"starting": "Starting", "loading": "Loading model", "caching": "Caching latents",
                 "training": "Training", "sampling": "Generating samples",
                 "stopped": "Job stopped", "done": "Training completed"}


def speed_string(s_per_it) -> str:
    """The UI's wording: iterations per second when faster than one a second, else seconds per one."""
    if not s_per_it or s_per_it <= 0:
        return ""
    if s_per_it < 1:
        return f"{1.0 / s_per_it:.2f} iter/sec"
    return f"{s_per_it:.2f} sec/iter"


def row_values(status: dict) -> dict:
    """The Job row's columns for one status.json."""
    state = status.get("state") or "starting"
    values = {"status": STATE_TO_STATUS.get(state, "running"), "step": int(status.get("step") or 0)}
    if status.get("total"):
        values["total_steps"] = int(status["total"])
    info = status.get("error") if state == "error" else STATE_TO_INFO.get(state, state)
    if info:
        values["info"] = str(info)
    speed = speed_string(status.get("s_per_it"))
    if speed:
        values["speed_string"] = speed
    return values


class JobRow:
    """One row of the UI's `Job` table. Columns it does not find are skipped with one warning."""

    def __init__(self, db_path: Path, job_id: str, warn: Callable[[str], None] = print):
        self.db_path = Path(db_path)
        self.job_id = job_id
        self._warn = warn
        conn = self._connect()
        try:
            found = {row[1] for row in conn.execute("PRAGMA table_info(Job)")}
        finally:
            conn.close()
        if not found:
            raise ValueError(f"ltx2_voice_trainer: {self.db_path} has no `Job` table: is sqlite_db_path "
                             f"ai-toolkit's UI database (aitk_db.db)?")
        missing = [c for c in WRITTEN + READ if c not in found]
        if missing:
            warn(f"ltx2_voice_trainer: warning: the Job table in {self.db_path} has no column(s) "
                 f"{', '.join(missing)}; they are skipped (an ai-toolkit version this extension was not checked with?)")
        self.writable = [c for c in WRITTEN if c in found]
        self.readable = [c for c in READ if c in found]
        self._last: dict = {}

    def _connect(self) -> sqlite3.Connection:
        # A connection per operation, autocommit, a generous lock wait: the UI's worker writes
        # to the same file from another process.
        return sqlite3.connect(str(self.db_path), timeout=30.0, isolation_level=None)

    def _retry(self, operation):
        """SQLite says "database is locked" when the UI holds the write lock longer than the wait."""
        for attempt in range(4):
            try:
                return operation()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 3:
                    raise
                time.sleep(1.0 * (2 ** attempt))

    def write(self, values: dict) -> None:
        """Write the columns that changed since the last write (and exist)."""
        changed = {k: v for k, v in values.items() if k in self.writable and self._last.get(k) != v}
        if not changed:
            return
        # Column names come from the fixed WRITTEN tuple, never from input, so formatting them is safe.
        sql = f"UPDATE Job SET {', '.join(f'{k} = ?' for k in changed)} WHERE id = ?"

        def _do():
            conn = self._connect()
            try:
                conn.execute(sql, (*changed.values(), self.job_id))
            finally:
                conn.close()

        self._retry(_do)
        self._last.update(changed)

    def clear(self, column: str) -> None:
        """Set one of the UI's request flags back to 0: the request is taken."""
        if column not in CLEARED or column not in self.readable:
            raise ValueError(f"ltx2_voice_trainer: {column} is not a request flag of this Job table")

        def _do():
            conn = self._connect()
            try:
                conn.execute(f"UPDATE Job SET {column} = 0 WHERE id = ?", (self.job_id,))
            finally:
                conn.close()

        self._retry(_do)

    def flags(self) -> dict:
        """{flag: bool} for stop, return_to_queue, save_now and sample_now as the UI set them
        (False when the column is missing)."""
        if not self.readable:
            return {c: False for c in READ}

        def _do():
            conn = self._connect()
            try:
                return conn.execute(f"SELECT {', '.join(self.readable)} FROM Job WHERE id = ?",
                                    (self.job_id,)).fetchone()
            finally:
                conn.close()

        row = self._retry(_do)
        values = dict(zip(self.readable, row, strict=True)) if row else {}
        return {c: bool(values.get(c)) for c in READ}


def open_job_row(db_path: str | None, job_id: str | None, warn: Callable[[str], None] = print) -> JobRow | None:
    """The UI's row when this run was started by ai-toolkit's UI, else None."""
    job_id = (job_id or "").strip()
    if not db_path or not job_id:
        return None
    path = Path(db_path)
    if not path.is_file():
        warn(f"ltx2_voice_trainer: warning: sqlite_db_path {path} does not exist; the UI will not see progress")
        return None
    return JobRow(path, job_id, warn)

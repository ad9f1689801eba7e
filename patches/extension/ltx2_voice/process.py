"""The `ltx2_voice_trainer` process: this job's config run by the LTX-2 voice trainer, as a child.

ai-toolkit constructs a process as `Process(process_id, job, config)` and calls `run()`.
Here `run()` writes the job's name and this process section, as given, to a temporary
standalone config, runs the trainer's `run.py` on it with the trainer's own Python
(its folder from `trainer_home` or LTX2_VOICE_HOME), streams the child's output into
ai-toolkit's in whole lines (console.py), forwards Ctrl-C so the child saves its checkpoint,
and returns the child's exit status. When the UI started the job it also mirrors the
child's status.json into the UI's job row, passes the row's Save now / Sample now on to the
child, and fills the loss chart's `loss_log.db` from the child's metrics (loss_log.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .console import CONSOLE_LOG_ENV, LineSink, console_is_file, pump
from .job_row import open_job_row, row_values
from .loss_log import LossLog
from .trainer_home import HOME_KEY, find_trainer_home, find_trainer_python

TRAINER_TYPE = "sd_trainer"  # the trainer's own name for this process type
EXTENSION_KEYS = (HOME_KEY,)  # read here, unknown to the trainer's config schema
STOP_FILE_ENV = "LTX2_STOP_FILE"  # the trainer stops at the end of a step when this file exists
# The trainer saves / samples at the end of the step in which this file appears, and removes it.
REQUEST_FILE_ENV = {"save": "LTX2_SAVE_FILE", "sample": "LTX2_SAMPLE_FILE"}
REQUEST_OF_FLAG = {"save_now": "save", "sample_now": "sample"}
POLL_S = 0.5
EXIT_INTERRUPTED = 130  # the trainer's exit after a Ctrl-C (stop file included), checkpoint saved
EXIT_TERMINATED = 143  # the same after SIGTERM


class TrainerFailed(RuntimeError):
    """The trainer exited with a failure; `exit_status` is its exit status."""

    def __init__(self, exit_status: int, message: str):
        super().__init__(message)
        self.exit_status = exit_status


def standalone_config(job_name: str, process: dict, meta=None) -> dict:
    """The trainer's config for one process: ai-toolkit's shape, this process only."""
    section = {k: v for k, v in process.items() if k not in EXTENSION_KEYS}
    section["type"] = TRAINER_TYPE
    config = {"job": "extension", "config": {"name": job_name, "process": [section]}}
    if meta:
        config["meta"] = dict(meta)
    return config


def _plain(value):
    """ai-toolkit hands sections over as OrderedDicts; JSON wants plain containers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class LTX2VoiceTrainerProcess:
    """Constructed by ai-toolkit's ExtensionJob as `(process_id, job, config)`; started with `run()`."""

    def __init__(self, process_id: int, job, config: dict):
        self.process_id = process_id
        self.job = job
        self.config = _plain(config)
        self.job_name = str(getattr(job, "name", None) or self.config.get("name") or "")
        if not self.job_name:
            raise ValueError("ltx2_voice_trainer: the job has no name (config.name)")
        self.meta = _plain(getattr(job, "meta", None) or {})
        # Checked here so a wrong folder fails before ai-toolkit starts anything else.
        self.home = find_trainer_home(self.config.get(HOME_KEY))
        self.python = find_trainer_python(self.home)
        self.exit_status = None
        self.child = None
        self._stop_reason = ""
        self._stop_file = None
        self._request_files: dict[str, Path] = {}
        self._row = None
        self._loss_log: LossLog | None = None
        self._loss_log_warned: set[str] = set()
        self._launched_at = None  # time.time() just before the child started
        self._lines = LineSink(sys.stdout)

    # ------------------------------------------------------------------ output folder
    @property
    def run_folder(self) -> Path:
        return Path(self.config.get("training_folder") or "output") / self.job_name

    def _read_status(self):
        """This child's status.json, or None. A restarted job finds the last run's file in its
        folder ("stopped", "done"): until the child has rewritten it, it says nothing about
        this run (copied into the row, it ended a resume that was under way)."""
        path = self.run_folder / "status.json"
        try:
            status = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            # status.json is replaced atomically, so a half-written file is not expected;
            # Windows may still refuse a read during the rename. The next poll reads it.
            return None
        if not isinstance(status, dict) or self._launched_at is None:
            return None
        written = status.get("updated_at")
        if not isinstance(written, (int, float)) or written < self._launched_at:
            return None
        return status

    # ------------------------------------------------------------------ stopping
    def request_stop(self, reason: str) -> None:
        """Ask the child to finish its step, save and exit."""
        first = not self._stop_reason
        if first:
            self._stop_reason = reason
            self._lines.own(f"ltx2_voice_trainer: {reason}: asking the trainer to save and stop")
            if self._stop_file is not None:
                self._stop_file.write_text(reason, encoding="utf-8")
        # The stop file is read once a step; SIGINT also reaches a child still loading or caching.
        # The child runs in its own session, so this is the only SIGINT it gets: a second Ctrl-C
        # is forwarded too and, a few seconds after the first, makes the trainer leave at once.
        # Windows cannot send SIGINT to a process without a console: the file does it there.
        if self.child is not None and self.child.poll() is None and os.name != "nt":
            self.child.send_signal(signal.SIGINT)

    def _on_signal(self, signum, frame):
        self.request_stop(f"{signal.Signals(signum).name} received")

    def _install_signal_handlers(self):
        previous = {}
        if threading.current_thread() is not threading.main_thread():
            return previous  # only the main thread may set handlers; the UI flags still work
        for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
            sig = getattr(signal, name, None)
            if sig is not None:
                previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    # ------------------------------------------------------------------ the UI's loss chart
    def _sync_loss_log(self) -> None:
        """A chart that cannot be written must not stop the training: say so, once per reason."""
        if self._loss_log is None:
            return
        try:
            self._loss_log.sync()
        except (sqlite3.Error, OSError) as exc:
            message = f"{type(exc).__name__}: {exc}"
            if message not in self._loss_log_warned:
                self._loss_log_warned.add(message)
                self._lines.own(f"ltx2_voice_trainer: warning: the UI's loss chart {self._loss_log.db_path} "
                                f"was not updated ({message}); training goes on")

    # ------------------------------------------------------------------ UI row
    def _mirror(self, status) -> None:
        if self._row is None or status is None:
            return
        values = row_values(status)
        if self._stop_reason and values["status"] == "running":
            values.pop("status")  # the UI already shows "stopping"; only the ending is written
            values.pop("info", None)
        self._row.write(values)

    def _check_flags(self) -> None:
        if self._row is None or self._stop_reason:  # one request per run; Ctrl-C may add more
            return
        flags = self._row.flags()
        if flags["return_to_queue"]:
            self.request_stop("returning to the queue (ai-toolkit UI)")
        elif flags["stop"]:
            self.request_stop("stop requested (ai-toolkit UI)")
        else:
            for flag, kind in REQUEST_OF_FLAG.items():
                if flags[flag]:
                    self._request(kind)
                    self._row.clear(flag)  # taken, as ai-toolkit's trainer clears it

    def _request(self, kind: str) -> None:
        """Save now / Sample now: the trainer does it at the end of its current step."""
        path = self._request_files[kind]
        path.write_text("ai-toolkit UI", encoding="utf-8")
        self._lines.own(f"ltx2_voice_trainer: {kind.capitalize()} now (ai-toolkit UI): the trainer "
                        f"{'saves' if kind == 'save' else 'samples'} at the end of its current step")

    def _final_row(self, code: int, status) -> None:
        if self._row is None:
            return
        values = row_values(status) if status else {}
        state = (status or {}).get("state")
        if code == 0 and state == "done":
            values.update(status="completed", info="Training completed")
        elif self._stop_reason or state == "stopped" or code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
            queued = "returning to the queue" in self._stop_reason
            values.update(status="queued" if queued else "stopped", info="Job queued" if queued else "Job stopped")
        else:
            error = (status or {}).get("error") if state == "error" else None
            values.update(status="error", info=error or f"the LTX-2 voice trainer exited with status {code}")
        self._row.write(values)

    # ------------------------------------------------------------------ run
    def run(self) -> int:
        self._row = open_job_row(self.config.get("sqlite_db_path"), os.environ.get("AITK_JOB_ID"))
        if self._row is not None:
            self._row.write({"status": "running", "info": "Starting the LTX-2 voice trainer"})
            self._loss_log = LossLog(self.run_folder)
        workdir = Path(tempfile.mkdtemp(prefix="ltx2_voice_"))
        previous = {}
        try:
            config_path = workdir / f"{self.job_name}.json"
            config_path.write_text(json.dumps(standalone_config(self.job_name, self.config, self.meta), indent=2),
                                   encoding="utf-8")
            self._stop_file = workdir / "stop"
            self._request_files = {kind: workdir / kind for kind in REQUEST_FILE_ENV}
            env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
            env[STOP_FILE_ENV] = str(self._stop_file)
            for kind, name in REQUEST_FILE_ENV.items():
                env[name] = str(self._request_files[kind])
            # ai-toolkit's UI appends this process's console to the job folder's log.txt, the
            # file the trainer logs to: the trainer then leaves it to the console (console.py).
            job_log = self.run_folder / "log.txt"
            if console_is_file(sys.stdout, job_log):
                env[CONSOLE_LOG_ENV] = str(job_log.resolve())
            else:
                env.pop(CONSOLE_LOG_ENV, None)
            # ai-toolkit's own virtual environment must not leak into the trainer's.
            for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
                env.pop(key, None)
            command = [str(self.python), str(self.home / "run.py"), str(config_path)]
            self._lines.own(f"ltx2_voice_trainer: running {' '.join(command)}")
            previous = self._install_signal_handlers()
            # Same working directory as ai-toolkit, so relative paths in the config mean the same.
            # Its own session / process group: a terminal Ctrl-C reaches only this process, which
            # forwards exactly one stop request (see request_stop).
            group = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt"
                     else {"start_new_session": True})
            self._launched_at = time.time()
            self.child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, **group)
            reader = threading.Thread(target=pump, args=(self.child.stdout, self._lines), daemon=True)
            reader.start()
            while self.child.poll() is None:
                self._check_flags()
                self._mirror(self._read_status())
                self._sync_loss_log()
                time.sleep(POLL_S)
            reader.join()
            self._sync_loss_log()  # the last steps, and the final sampling's voice row
            code = self.child.returncode
            if code < 0:  # killed by a signal (POSIX): report it as a shell would
                code = 128 - code
            self.exit_status = code
            self._final_row(code, self._read_status())
        except BaseException as exc:
            if self._row is not None and self.exit_status is None:
                self._row.write({"status": "error", "info": f"ltx2_voice_trainer: {type(exc).__name__}: {exc}"})
            raise
        finally:
            if self._loss_log is not None:
                self._loss_log.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.child is not None and self.child.poll() is None:
                self.child.kill()  # only when this process itself failed; never leave an orphan training
                self.child.wait()
            try:
                shutil.rmtree(workdir)
            except OSError as exc:  # a leftover temp folder must not hide the run's outcome
                self._lines.own(f"ltx2_voice_trainer: warning: could not remove {workdir}: {exc}")
        stopped = code in (EXIT_INTERRUPTED, EXIT_TERMINATED)
        if code != 0 and not stopped and not self._stop_reason:
            # ai-toolkit counts a job as failed only when run() raises.
            raise TrainerFailed(code, f"ltx2_voice_trainer: the LTX-2 voice trainer failed (exit status {code}); "
                                      f"its error is above and in {self.run_folder / 'log.txt'}")
        if stopped and self._stop_reason:
            return 0  # the stop this extension asked for (ai-toolkit's Stop button) is not a failure
        return code

    def on_error(self, exc: BaseException) -> None:
        """ai-toolkit calls this when run() raised; the row already says what happened."""

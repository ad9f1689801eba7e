"""The run's output folder: log.txt, metrics.jsonl, status.json and the config that ran.

The web UI reads only these files, so their shapes are a contract (docs/architecture.md).
Every file that is replaced (status.json, the config copy) is written atomically.
Under several processes only the main one writes (`write=False` elsewhere): the others
write no file and show only their warnings on the console, prefixed with their rank.

log.txt gets every log line, and the error a run ends with. When the console itself is
appended to this log.txt (LTX2_CONSOLE_LOG names the same file: ai-toolkit's UI sends a
job's console there, and its extension in patches/ says so), the lines reach it through the
console only, once and whole; if that console breaks (the process reading it was killed),
they go on into the file directly.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import yaml
from tqdm import tqdm

from toolkit.atomic import atomic_write_text, remove_temp_files, write_error
from toolkit.errors import UserInputError
from toolkit.run.step_memory import StepPeakMemory

CONSOLE_LOG_ENV = "LTX2_CONSOLE_LOG"  # the file the console is appended to, set by a launcher


class TqdmConsoleHandler(logging.Handler):
    """Console lines printed above the progress bar instead of through it. With a `fallback`
    (the console is the run's log.txt), a broken console hands this and every later line to it."""

    def __init__(self, fallback: logging.Handler | None = None):
        super().__init__()
        self.fallback = fallback
        self.lost = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.lost:
            self.fallback.handle(record)
            return
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except (OSError, ValueError) as exc:  # a closed or broken console must not stop training
            if self.fallback is None:
                self.handleError(record)
                return
            self.console_lost(exc)
            self.fallback.handle(record)

    def console_lost(self, exc: BaseException) -> None:
        """From now on the log lines go to the fallback file, after one line that says why."""
        if self.lost or self.fallback is None:
            return
        self.lost = True
        _end_line(Path(self.fallback.baseFilename))  # the console may have left a progress bar mid-line
        note = logging.LogRecord(self.name or "console", logging.WARNING, __file__, 0,
                                 f"warning: the console is gone ({type(exc).__name__}: {exc}); "
                                 "the log goes on in this file", None, None)
        self.fallback.handle(note)


def _end_line(path: Path) -> None:
    """Start the next line of `path` on a line of its own."""
    try:
        with open(path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            last = handle.read(1)
    except FileNotFoundError:
        return
    except OSError as exc:  # an empty file cannot seek before its start: nothing to end
        if exc.errno != errno.EINVAL:
            raise write_error(path, exc) from exc
        return
    if last != b"\n":
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("\n")
        except OSError as exc:
            raise write_error(path, exc) from exc


def console_is_log(log_path: Path, environ=os.environ) -> bool:
    """True when the launcher appends this process's console to `log_path` itself."""
    named = environ.get(CONSOLE_LOG_ENV)
    if not named or not log_path.exists():
        return False
    try:
        return os.path.samefile(named, log_path)
    except FileNotFoundError:  # the launcher's file is gone: the console is not this log
        return False


def is_broken_console(exc: BaseException) -> bool:
    """A write to a console whose reader is gone (EPIPE), anywhere in the exception's chain."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunOutput:
    """`<training_folder>/<name>/` and the files in it."""

    def __init__(self, folder: Path, name: str, write: bool = True, rank: int = 0):
        self.folder = Path(folder)
        self.name = name
        self.write = write
        self.rank = rank
        if write:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise write_error(self.folder, exc) from exc
        self.samples = self.folder / "samples"
        self.base_samples = self.samples / "base"  # the network-off samples (toolkit/voice/base_samples.py)
        self.metrics_path = self.folder / "metrics.jsonl"
        self.status_path = self.folder / "status.json"
        self.log_path = self.folder / "log.txt"
        self.console_is_log = write and console_is_log(self.log_path)
        self._console: TqdmConsoleHandler | None = None
        self._failures_logged: set[str] = set()
        self.logger = self._make_logger()
        self.tensorboard = None
        # Every key is present from the first write on, so readers never meet a missing one.
        # s_per_it leaves sampling and saving out; eta_s adds them back, its parts in eta_samples_s
        # and eta_saves_s (toolkit/run/step_clock.py).
        self._status: dict = {"state": "starting", "step": 0, "total": 0, "s_per_it": None, "eta_s": None,
                              "eta_samples_s": None, "eta_saves_s": None,
                              "last_checkpoint": None, "last_sample": None, "error": None}
        # A resumed run keeps showing where it was while it loads, instead of dropping to 0.
        self._status.update(self._previous_progress())
        self._peak = StepPeakMemory()

    def _previous_progress(self) -> dict:
        try:
            previous = json.loads(self.status_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:  # unreadable: start from 0 and say why
            self.logger.warning(f"warning: the previous status.json is unreadable ({exc}); progress restarts at 0")
            return {}
        # "voice" too: a start that finds the run complete scores nothing, and the job page's
        # voice chart must not go blank because of it (a training start republishes it anyway).
        keep = ("step", "total", "last_checkpoint", "last_sample", "voice")
        return {k: previous[k] for k in keep if isinstance(previous, dict) and k in previous}

    def _make_logger(self) -> logging.Logger:
        logger = logging.getLogger(f"ltx2_trainer.run.{self.folder}")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        if not self.write:  # another rank: its warnings only, on the console
            console = logging.StreamHandler(sys.stderr)
            console.setLevel(logging.WARNING)
            console.setFormatter(logging.Formatter(f"[rank {self.rank}] %(message)s"))
            logger.addHandler(console)
            return logger
        try:
            # delay: with the console as the log, the file is opened only if the console breaks
            file_handler = logging.FileHandler(self.log_path, encoding="utf-8", delay=self.console_is_log)
        except OSError as exc:
            raise write_error(self.log_path, exc) from exc
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        console = TqdmConsoleHandler(fallback=file_handler if self.console_is_log else None)
        console.setFormatter(logging.Formatter("%(message)s"))
        self._console = console
        if not self.console_is_log:
            logger.addHandler(file_handler)
        logger.addHandler(console)
        return logger

    def enable_tensorboard(self) -> None:
        """Also write every metrics record as TensorBoard scalars under `tensorboard/`."""
        if not self.write:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 (may be missing: the except below handles it)
        except ImportError as exc:
            raise UserInputError(
                "logging.use_tensorboard needs the tensorboard package: `pip install tensorboard` "
                f"(it is in requirements.txt), or set use_tensorboard: false ({exc})"
            ) from exc
        self.tensorboard = SummaryWriter(log_dir=str(self.folder / "tensorboard"))

    def remove_stale_temp_files(self) -> list[Path]:
        """Temp files of atomic writes that a killed process left behind (`.<file>.<random>.tmp`),
        in the run folder and its samples folders."""
        removed = []
        if not self.write:
            return removed
        for folder in (self.folder, self.samples, self.base_samples):
            removed += remove_temp_files(folder)
        if removed:
            self.info(f"removed {len(removed)} unfinished temp file(s) of an interrupted save")
        return removed

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
            handler.close()
        if self._console is not None and self._console.fallback is not None:
            self._console.fallback.close()

    def info(self, message: str) -> None:
        self.logger.info(message)

    def warning(self, message: str) -> None:
        self.logger.warning(f"warning: {message}")

    def progress(self, message: str) -> None:
        """A progress line of a slow phase, for whoever reads log.txt (the web UI): into the
        file only, since the console shows the phase's bar (toolkit/run/progress.py). When the
        console is the log (a launcher appends it to log.txt), through the console, once."""
        if not self.write:
            return
        record = self.logger.makeRecord(self.logger.name, logging.INFO, __file__, 0, message, None, None)
        if self.console_is_log:
            if self._console is not None:
                self._console.handle(record)  # its fallback file takes it if the console is gone
            return
        for handler in self.logger.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.handle(record)

    def console_lost(self, exc: BaseException) -> None:
        """The console broke outside the logger (a progress bar's write): with the console as
        the log, the lines go on in the file."""
        if self._console is not None:
            self._console.console_lost(exc)

    def log_failure(self, message: str) -> None:
        """Why the run stops, into log.txt once: run.py prints it on the console, so it goes to
        the file only (with the console as the log: only once the console is gone)."""
        if message in self._failures_logged or not self.write:
            return
        self._failures_logged.add(message)
        record = self.logger.makeRecord(self.logger.name, logging.ERROR, __file__, 0, f"error: {message}", None, None)
        if self.console_is_log:
            if self._console is not None and self._console.lost:
                self._console.fallback.handle(record)
            return
        for handler in self.logger.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.handle(record)

    def save_config(self, raw_config: dict) -> Path:
        path = self.folder / "config.yaml"
        if not self.write:
            return path
        atomic_write_text(path, yaml.safe_dump(raw_config, sort_keys=False, allow_unicode=True))
        return path

    def lora_path(self, step: int | None) -> Path:
        if step is None:
            return self.folder / f"{self.name}.safetensors"
        return self.folder / f"{self.name}_{step:09d}.safetensors"

    def append_metrics(self, record: dict) -> None:
        if not self.write:
            return
        if "step" in record:
            record = {**record, **self._peak.read(record["step"])}
        line = json.dumps({k: _finite(v) for k, v in record.items()})
        try:
            with open(self.metrics_path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            raise write_error(self.metrics_path, exc) from exc
        if self.tensorboard is not None and "step" in record:
            for key, value in record.items():
                if key not in ("step", "time") and isinstance(value, (int, float)) and math.isfinite(value):
                    self.tensorboard.add_scalar(key, value, record["step"])
            self.tensorboard.flush()

    def drop_metrics_after(self, step: int) -> int:
        """On resume: records of steps after the checkpoint are trained again, so they go (as
        does a line cut short by a kill); returns how many were dropped."""
        if not self.write or not self.metrics_path.exists():
            return 0
        try:
            lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise write_error(self.metrics_path, exc) from exc
        kept = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] > step:
                continue
            kept.append(line)
        dropped = len(lines) - len(kept)
        if dropped:
            atomic_write_text(self.metrics_path, "".join(x + "\n" for x in kept))
        return dropped

    def update_status(self, **fields) -> None:
        self._status.update(fields)
        if "step" in fields and fields.get("state") == "training":
            self._status.update(self._peak.read(fields["step"]))
        self._status["updated_at"] = time.time()
        if not self.write:
            return
        atomic_write_text(self.status_path, json.dumps({k: _finite(v) for k, v in self._status.items()}, indent=1))

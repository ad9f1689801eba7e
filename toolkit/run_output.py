"""The run's output folder: log.txt, metrics.jsonl, status.json and the config that ran.

The web UI reads only these files, so their shapes are a contract (docs/architecture.md).
Every file that is replaced (status.json, the config copy) is written atomically.
Under several processes only the main one writes (`write=False` elsewhere): the others
write no file and show only their warnings on the console, prefixed with their rank.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path

import yaml
from tqdm import tqdm

from toolkit.atomic import atomic_write_text, remove_temp_files, write_error
from toolkit.errors import UserInputError
from toolkit.step_memory import StepPeakMemory


class TqdmConsoleHandler(logging.Handler):
    """Console lines printed above the progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except (OSError, ValueError):  # a closed or broken console must not stop training
            self.handleError(record)


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
        self.base_samples = self.samples / "base"  # the network-off samples (toolkit/base_samples.py)
        self.metrics_path = self.folder / "metrics.jsonl"
        self.status_path = self.folder / "status.json"
        self.log_path = self.folder / "log.txt"
        self.logger = self._make_logger()
        self.tensorboard = None
        # Every key is present from the first write on, so readers never meet a missing one.
        self._status: dict = {"state": "starting", "step": 0, "total": 0, "s_per_it": None, "eta_s": None,
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
            file_handler = logging.FileHandler(self.log_path, encoding="utf-8")
        except OSError as exc:
            raise write_error(self.log_path, exc) from exc
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        console = TqdmConsoleHandler()
        console.setFormatter(logging.Formatter("%(message)s"))
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

    def info(self, message: str) -> None:
        self.logger.info(message)

    def warning(self, message: str) -> None:
        self.logger.warning(f"warning: {message}")

    def progress(self, message: str) -> None:
        """A progress line of a slow phase, into log.txt only: the console shows its bar
        (toolkit/run/progress.py), the web UI reads the log."""
        record = self.logger.makeRecord(self.logger.name, logging.INFO, __file__, 0, message, None, None)
        for handler in self.logger.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.handle(record)

    def log_failure(self, message: str) -> None:
        """Why the run stops, into log.txt only: run.py already prints it on the console once."""
        record = self.logger.makeRecord(self.logger.name, logging.ERROR, __file__, 0, f"error: {message}", None, None)
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

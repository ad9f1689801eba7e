"""Where the LTX-2 voice trainer is installed, and its Python."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "LTX2_VOICE_HOME"
HOME_KEY = "trainer_home"
# Files only this trainer has: ai-toolkit also has run.py and an LTX-2 adapter, so those
# alone would accept an ai-toolkit folder by mistake.
MARKERS = ("run.py", "toolkit/configuration/loader.py", "jobs/process/dataset_setup.py")


class TrainerHomeError(ValueError):
    """The trainer's folder is not set, or is not the trainer."""


def find_trainer_home(config_value: str | None, environ=os.environ) -> Path:
    """The `trainer_home` key wins over LTX2_VOICE_HOME: a config is more specific than a shell."""
    raw = config_value or environ.get(HOME_ENV)
    where = f"`{HOME_KEY}` in the process config" if config_value else f"the {HOME_ENV} environment variable"
    if not raw:
        raise TrainerHomeError(
            f"ltx2_voice_trainer: the LTX-2 voice trainer's folder is not set. Set the {HOME_ENV} "
            f"environment variable, or `{HOME_KEY}: /path/to/ltx2-voice-trainer` in the process section, "
            f"to the folder that holds its run.py and .venv")
    home = Path(os.path.expandvars(os.path.expanduser(str(raw)))).resolve()
    missing = [m for m in MARKERS if not (home / m).is_file()]
    if missing:
        raise TrainerHomeError(
            f"ltx2_voice_trainer: {home} (from {where}) is not the LTX-2 voice trainer: "
            f"{', '.join(missing)} missing there. Point it at the trainer's checkout, not at ai-toolkit")
    return home


def find_trainer_python(home: Path) -> Path:
    """The trainer's own virtual environment (`make setup` or the README's Windows steps make `.venv`)."""
    if sys.platform == "win32":
        candidates = [home / v / "Scripts" / "python.exe" for v in (".venv", "venv")]
    else:
        candidates = [home / v / "bin" / "python" for v in (".venv", "venv")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise TrainerHomeError(
        f"ltx2_voice_trainer: no Python environment in {home} (looked for "
        f"{', '.join(str(c.relative_to(home)) for c in candidates)}). Install the trainer there first "
        f"(its README: `make setup`, or on Windows `py -3.11 -m venv .venv` and pip install)")

"""A config that changed between a run's checkpoint and its resume.

The run folder keeps `config.yaml`, the config the checkpoints were trained with. On
resume the new config is compared with it before any model is loaded:

- the network's shape, type or targets, or the optimizer: a checkpoint cannot continue
  with those, so the run stops (exit 2) naming the key, the folder and the choices;
- learning rate and schedule (lr, lr_scheduler, its params, warm-up, steps): applied from
  the resumed step, with a note (`apply_schedule`);
- datasets: a note; the counts of items are compared once the data is loaded;
- `train.steps` at or below the newest checkpoint: the run is complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toolkit.configuration.fields import show_value
from toolkit.configuration.loader import validate_config_data
from toolkit.errors import ConfigError, UserInputError

# A checkpoint of one of these cannot continue under another value.
BLOCKING = (
    "model.arch",  # another LTX-2 version has other layers: its adapters do not fit
    "network.type", "network.linear", "network.linear_alpha", "network.lokr_factor",
    "network.train_audio_modules", "network.network_kwargs", "network.audio_linear", "network.audio_linear_alpha",
    "train.train_text_encoder", "train.optimizer", "train.optimizer_params",
)
# Between unset and set it changes the optimizer's groups (blocking); between two rates it is
# a schedule change.
AUDIO_LR = "train.audio_lr"
SCHEDULE = ("train.lr", "train.lr_scheduler", "train.lr_scheduler_params", "train.lr_warmup_steps", "train.steps")
DATASETS = "datasets"
# Allowed, but the user should know the checkpoint was trained otherwise.
NOTED = ("model.name_or_path", "model.quantize", "model.qtype", "train.dtype", "train.batch_size",
         "train.gradient_accumulation")


def _get(dump: dict, dotted: str) -> Any:
    value: Any = dump
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass
class ResumeDiff:
    blocking: list[tuple[str, Any, Any]] = field(default_factory=list)
    schedule: list[tuple[str, Any, Any]] = field(default_factory=list)
    noted: list[tuple[str, Any, Any]] = field(default_factory=list)
    datasets_changed: bool = False


def compare(old: dict, new: dict) -> ResumeDiff:
    """`old`/`new`: validated process configs as plain dicts (defaults filled in)."""
    diff = ResumeDiff()
    for key in BLOCKING:
        if _get(old, key) != _get(new, key):
            diff.blocking.append((key, _get(old, key), _get(new, key)))
    was, now = _get(old, AUDIO_LR), _get(new, AUDIO_LR)
    if (was is None) != (now is None):
        diff.blocking.append((AUDIO_LR, was, now))
    elif was != now:
        diff.schedule.append((AUDIO_LR, was, now))
    for key in SCHEDULE:
        if _get(old, key) != _get(new, key):
            diff.schedule.append((key, _get(old, key), _get(new, key)))
    for key in NOTED:
        if _get(old, key) != _get(new, key):
            diff.noted.append((key, _get(old, key), _get(new, key)))
    diff.datasets_changed = old.get(DATASETS) != new.get(DATASETS)
    return diff


def saved_process_config(folder: Path, training_folder: str) -> dict | None:
    """The validated process config of the run in `folder` (from its config.yaml), or None
    when there is none or it no longer validates (then nothing can be compared)."""
    path = Path(folder) / "config.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        processes = validate_config_data(data, source=str(path)).job.config.process
    except (OSError, yaml.YAMLError, ConfigError):
        return None
    same = [p for p in processes if p.training_folder == training_folder] or processes
    return same[0].model_dump(mode="json")


def _show(value: Any) -> str:
    return show_value(value)


def check_resume(folder: Path, new_config, last_step: int, final_saved: bool = True) -> tuple[bool, list[str]]:
    """Compare the saved config with `new_config` for a run whose newest checkpoint is
    `last_step`. Returns (complete, notes); raises UserInputError on a blocking change.
    `final_saved`: the final LoRA exists; without it (a stop during the last save) the run
    resumes to write it."""
    notes: list[str] = []
    steps = new_config.train.steps
    old = saved_process_config(folder, new_config.training_folder)
    if old is not None:
        diff = compare(old, new_config.model_dump(mode="json"))
        if diff.blocking:
            key, was, now = diff.blocking[0]
            others = ", ".join(k for k, _, _ in diff.blocking[1:])
            raise UserInputError(
                f"{folder} holds a run with checkpoints up to step {last_step} trained with {key} = {_show(was)}; "
                f"the config now says {_show(now)}"
                + (f" (also changed: {others})" if others else "")
                + ". A checkpoint cannot continue with another network or optimizer. Choose: a new `name` "
                f"(or -n NAME) for a separate run, --restart to move the old run aside and start over, or put "
                f"{key} back to {_show(was)} to resume")
        for key, was, now in diff.schedule:
            if key != "train.steps" or now > last_step:
                notes.append(f"note: {key} changed from {_show(was)} to {_show(now)}: applied from the resumed "
                             f"step {last_step} on")
        for key, was, now in diff.noted:
            notes.append(f"note: {key} changed from {_show(was)} to {_show(now)} since the checkpoint; the "
                         "adapters continue under the new setting")
        if diff.datasets_changed:
            notes.append("note: the datasets section changed since the checkpoint; item counts follow once the "
                         "data is loaded")
    if steps <= last_step and final_saved:
        notes.append(f"the run is complete: its newest checkpoint is step {last_step} and train.steps is {steps}. "
                     "Raise train.steps to train further, or use --restart to start over")
        return True, notes
    return False, notes


def apply_schedule(scheduler, optimizer, base_lrs: list[float]) -> None:
    """After loading a saved optimizer and LambdaLR: the config's lr (`base_lrs`, of the
    freshly built scheduler) and its schedule at the resumed step. LambdaLR computes
    base_lr * lambda(step); doing the same keeps an unchanged config bit-exact."""
    step = scheduler.last_epoch
    scheduler.base_lrs = list(base_lrs)
    lrs = [base * lam(step) for base, lam in zip(base_lrs, scheduler.lr_lambdas, strict=True)]
    for group, base, lr in zip(optimizer.param_groups, base_lrs, lrs, strict=True):
        group["initial_lr"] = base
        group["lr"] = lr
    scheduler._last_lr = lrs

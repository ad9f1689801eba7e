"""Checks of the machine and the files a run needs, made before anything slow starts.

A config can be valid and still fail ten minutes later, after the dataset was cached: the
optimizer's package is missing or cannot load, the GPU asked for is not there, the model
folder lacks a component or a weight file is missing. Everything that can be known before
caching is checked here:

    config_problems(process, index) -> [Problem]   # run.py --validate and start-up; no torch
                                                   # import unless a GPU device is named
    runtime_problems(process, device) -> [Problem] # runtime_check.py: start-up, device known,
                                                   # builds the optimizer on one dummy parameter

Each Problem names the key (``config.process[0].train.optimizer``) and what to do.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

from toolkit.errors import UserInputError
from toolkit.family.registry import family_for_arch
from toolkit.train.optimizer_rules import OPTIMIZER_PACKAGES, check_scheduler_params

_CUDA_INDEX = re.compile(r"^cuda:(\d+)$")


@dataclass(frozen=True)
class Problem:
    """``path`` is the key path; ``text`` continues it or is a sentence of its own."""

    path: str
    text: str

    def line(self) -> str:
        return f"{self.path}: {self.text}"


def prefix(index: int) -> str:
    return f"config.process[{index}]"


def _package_problem(process, index: int) -> list[Problem]:
    name = process.train.optimizer
    if name not in OPTIMIZER_PACKAGES:
        return []
    package, how = OPTIMIZER_PACKAGES[name]
    if importlib.util.find_spec(package) is None:
        return [Problem(f"{prefix(index)}.train.optimizer",
                        f"'{name}' needs the package {package}, which is not installed: {how}")]
    return []


def _scheduler_problem(process, index: int) -> list[Problem]:
    try:
        check_scheduler_params(process.train.lr_scheduler, dict(process.train.lr_scheduler_params))
    except UserInputError as exc:
        return [Problem(f"{prefix(index)}.train.lr_scheduler_params", str(exc))]
    return []


def _device_problem(process, index: int) -> list[Problem]:
    name = process.device
    if name in ("auto", "cpu"):
        return []
    import torch  # only for a named GPU: the one check that needs it  # noqa: PLC0415 (start-up: run.py loads this module before torch, so a bad config fails fast)

    key = f"{prefix(index)}.device"
    if name == "mps":
        if not torch.backends.mps.is_available():
            return [Problem(key, "'mps' asked for, but this machine has no Apple GPU (use device: auto)")]
        return []
    if not torch.cuda.is_available():
        return [Problem(key, f"'{name}' asked for, but this machine has no usable CUDA GPU "
                             "(use device: auto, or install the CUDA build of torch: see README)")]
    match = _CUDA_INDEX.match(name)
    count = torch.cuda.device_count()
    if match and int(match.group(1)) >= count:
        return [Problem(key, f"'{name}' asked for, but this machine has {count} CUDA GPU(s): "
                             f"cuda:0 … cuda:{count - 1}")]
    return []


def _model_problem(process, index: int) -> list[Problem]:
    """The model's files, by the loader's own rules (its family's; LTX-2's in
    extensions_built_in/diffusion_models/ltx2/weights/source_checks.py): a diffusers folder or
    hub id, original single files, LTX-2.5 split files, model_kwargs, te/extras paths."""
    return [Problem(f"{prefix(index)}.{key}", text) for key, text in
            family_for_arch(process.model.arch).model_source_problems(process.model)]


def config_problems(process, index: int = 0) -> list[Problem]:
    """Problems knowable from the config and the machine, without loading anything big."""
    problems: list[Problem] = []
    for check in (_package_problem, _scheduler_problem, _device_problem, _model_problem):
        problems += check(process, index)
    return problems


def problems_text(problems: list[Problem]) -> str:
    """One problem as its line, several as a counted list (the same text at start-up and in --validate)."""
    if len(problems) == 1:
        return problems[0].line()
    return f"{len(problems)} problems:\n" + "\n".join(f"  - {p.line()}" for p in problems)


def raise_problems(problems: list[Problem]) -> None:
    """Start-up: one UserInputError (exit 2) listing every problem."""
    if problems:
        raise UserInputError(problems_text(problems))

"""The start-up check that needs torch and the device (preflight.py's heavy half): the configured
optimizer built and stepped once on ``device``, before anything is cached."""

from __future__ import annotations

import torch

from toolkit.errors import UserInputError
from toolkit.run.preflight import Problem, prefix
from toolkit.train.optimizers import build_optimizer


def runtime_problems(process, device, index: int = 0) -> list[Problem]:
    """Build the configured optimizer (with optimizer_params) on one parameter on ``device``
    and take one step: a package that is installed but cannot load its kernels here, or
    parameters the optimizer does not take, fail now instead of after caching."""
    train = process.train
    param = torch.nn.Parameter(torch.zeros(16, device=device))
    try:
        optimizer = build_optimizer(train.optimizer, [param], train.lr, dict(train.optimizer_params))
        param.grad = torch.ones_like(param)
        optimizer.step()
    except UserInputError as exc:
        return [Problem(f"{prefix(index)}.train.optimizer", str(exc))]
    except (RuntimeError, OSError, ImportError) as exc:  # a package that cannot run on this machine
        return [Problem(f"{prefix(index)}.train.optimizer",
                        f"'{train.optimizer}' cannot run on {device}: {type(exc).__name__}: {exc} "
                        "(use optimizer: adamw, or fix the package install)")]
    return []

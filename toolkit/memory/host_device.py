"""Where tensors that rest off the compute device live (host memory), and whether the compute
device is really a CPU, each asked in one place.

Every lever that puts a tensor in host memory (offloaded block weights, checkpointed block
inputs, the optimizer's master copies and state) takes the device from `host_device()`
instead of writing "cpu". A run always gets the CPU. The full-size memory trace
(jobs/process/memory_trace.py) plays the GPU with fake CPU tensors, so within
`host_redirected("meta")` host tensors go to a device of their own (to count the two
memories apart), and `cpu_arithmetic(device)` says False for the CPU: code that computes
differently on a real CPU (a workaround for slow CPU kernels) takes the GPU's way there, as
the run the trace stands for would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

_HOST = [torch.device("cpu")]


def host_device() -> torch.device:
    """The device host-resting tensors go to (the CPU, unless a trace redirects it)."""
    return _HOST[-1]


def cpu_arithmetic(device: torch.device) -> bool:
    """True when work on `device` really runs on a CPU (False on the CPU tensors that play the
    GPU in the memory trace)."""
    return torch.device(device).type == "cpu" and len(_HOST) == 1


@contextmanager
def host_redirected(device) -> Iterator[torch.device]:
    """Within the block, host-resting tensors go to `device` and the CPU plays the GPU (the
    memory trace's stand-ins)."""
    _HOST.append(torch.device(device))
    try:
        yield _HOST[-1]
    finally:
        _HOST.pop()

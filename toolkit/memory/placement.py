"""Where tensors that rest off the compute device live: host memory, asked for in one place.

Every lever that puts a tensor in host memory (offloaded block weights, checkpointed block
inputs, the optimizer's master copies and state) takes the device from `host_device()`
instead of writing "cpu". A run always gets the CPU. The full-size memory trace
(toolkit/memory/plan/trace.py) plays the compute device with fake CPU tensors, so it
redirects host tensors to a device of their own (`host_redirected("meta")`) to count the
two memories apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

_HOST = [torch.device("cpu")]


def host_device() -> torch.device:
    """The device host-resting tensors go to (the CPU, unless a trace redirects it)."""
    return _HOST[-1]


@contextmanager
def host_redirected(device) -> Iterator[torch.device]:
    """Within the block, host-resting tensors go to `device` (the memory trace's stand-in)."""
    _HOST.append(torch.device(device))
    try:
        yield _HOST[-1]
    finally:
        _HOST.pop()

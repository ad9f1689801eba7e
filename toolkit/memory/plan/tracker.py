"""Per-device memory accounting of a fake-tensor run: torch's MemTracker, lean.

MemTracker (torch.distributed._tools.mem_tracker) is a dispatch mode that registers the
storage of every tensor an op creates, on that tensor's device, drops it when the storage is
freed, and keeps the peak of the running total per device. Under FakeTensorMode nothing is
allocated, so a step of the real 19B model can be counted on any machine.

What this subclass leaves out is MemTracker's per-module bookkeeping: it hooks every
module's forward and backward (the real model has about 6000 modules with the adapters),
which tripled the trace time, and it registers a gradient hook on every parameter, which
torch refuses for the frozen base weights ("cannot register a hook on a tensor that doesn't
require gradient"). Storages are labelled by the phase of the step that made them
(`Phase`) instead of by module role. The accounting itself (weak references to storages,
totals per device, sizes, frees, peaks) is MemTracker's own code.
"""

from __future__ import annotations

from copy import deepcopy

import torch
from torch._guards import active_fake_mode
from torch.distributed._tools.mem_tracker import _TOTAL_KEY, MemTracker, _RefType
from torch.utils._python_dispatch import TorchDispatchMode


class Phase(_RefType):
    """When a storage was made: MemTracker's reference categories, by phase of the step."""

    RESTING = "before the step"  # weights, adapters, optimizer state, the batch
    FORWARD = "forward"
    BACKWARD = "backward"  # the recomputation of checkpointed blocks included
    OPTIMIZER = "optimizer step"


class StepMemTracker(MemTracker):
    """Counts every storage created while it is active, per device, labelled with `phase`;
    `reset_peak` starts a new peak."""

    def __init__(self) -> None:
        super().__init__()
        self._ref_class = Phase
        self.phase = Phase.RESTING
        self._views: dict = {}  # op -> whether its output aliases its input (no new storage)

    def __enter__(self) -> StepMemTracker:
        if self._depth == 0:
            self._fake_mode_on_entry = active_fake_mode()
            self._track_resize()
            self.reset_peak()
        TorchDispatchMode.__enter__(self)
        self._depth += 1
        return self

    def __exit__(self, *args) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._restore_resize()
        TorchDispatchMode.__exit__(self, *args)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        # MemTracker's own, less what a single-process fake trace never meets (DTensor,
        # collectives, nested fake modes) and with views and device queries passed straight
        # through: they make no storage, and they are two thirds of the ops.
        result = func(*args, **(kwargs or {}))
        aliases = self._views.get(func)
        if aliases is None:
            aliases = self._views[func] = not func._schema.returns or any(
                r.alias_info is not None for r in func._schema.returns)
        if aliases:
            return result
        phase = Phase.BACKWARD if torch._C._current_graph_task_id() != -1 else self.phase
        for value in (result if isinstance(result, (tuple, list)) else (result,)):
            if isinstance(value, torch.Tensor):
                self._track(phase, value)
        self._update_peak_stats(None)
        return result

    def _update_peak_stats(self, peak_state) -> None:
        # MemTracker walks its per-module statistics here on every op; only the totals are kept
        for device, snapshot in self._curr_mem_snap.items():
            if snapshot[_TOTAL_KEY] > self._peak_mem.get(device, 0):
                self._peak_mem[device] = snapshot[_TOTAL_KEY]
                self._peak_mem_snap[device] = dict(snapshot)

    def reset_peak(self) -> None:
        """From now on the peak is measured from the current totals."""
        self._peak_mem_snap = deepcopy(self._curr_mem_snap)
        self._peak_mem = {device: snapshot[_TOTAL_KEY] for device, snapshot in self._peak_mem_snap.items()}

    def current(self, device) -> int:
        """Bytes alive on `device` now."""
        return int(self._curr_mem_snap.get(torch.device(device), {}).get(_TOTAL_KEY, 0))

    def peak(self, device) -> int:
        """The highest total on `device` since the last `reset_peak`."""
        return int(self._peak_mem.get(torch.device(device), 0))

    def peak_parts(self, device) -> dict[str, int]:
        """Bytes on `device` at its peak, by the phase that made them."""
        snapshot = self._peak_mem_snap.get(torch.device(device), {})
        return {getattr(key, "value", str(key)): int(value) for key, value in snapshot.items()
                if key != _TOTAL_KEY and value}

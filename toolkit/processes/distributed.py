"""Data-parallel context: who am I, who writes files, and the few collectives the run needs.

`accelerate launch run.py CONFIG` (or torchrun) starts one process per GPU and sets RANK /
WORLD_SIZE; accelerate's PartialState then joins torch.distributed (NCCL on GPUs, gloo on
CPU). A plain `python run.py` is world size 1 and none of this touches torch.distributed.

Gradient averaging is torch's DistributedDataParallel over the network's parameters; this
module only wraps what the process needs around it: main-process-only writes, barriers, the
mean of scalar losses (so the audio balancer sees the same numbers on every rank), and a
stop flag that any rank can raise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch

COLLECTIVE_TIMEOUT_MIN = 60


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, want_cuda: bool) -> DistContext:
        """Join the process group when launched with several processes, else single."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        from accelerate import PartialState  # noqa: PLC0415 (heavy (accelerate): loaded when first needed, so --check and start-up stay fast)

        # A long enough timeout for the waits of a real run: ranks wait at barriers while
        # another rank encodes its share of the cache or the main process samples.
        state = PartialState(cpu=not (want_cuda and torch.cuda.is_available()),
                             timeout=timedelta(minutes=COLLECTIVE_TIMEOUT_MIN))
        return cls(
            rank=state.process_index,
            world_size=state.num_processes,
            local_rank=state.local_process_index,
            backend=state.backend,
        )

    def device(self, requested: torch.device) -> torch.device:
        """Each rank owns its local GPU; CPU stays CPU."""
        if requested.type == "cuda" and self.enabled:
            return torch.device("cuda", self.local_rank)
        return requested

    def global_rows(self, draw, size: int) -> torch.Tensor:
        """`draw(n)` for the whole global batch (size * world_size rows), this rank's `size`
        rows kept. Every rank draws from the same generator state, so N ranks x batch b
        train exactly like one process with batch N*b, and generators stay in step for resume."""
        if self.world_size == 1:
            return draw(size)
        full = draw(size * self.world_size)
        return full[self.rank * size : (self.rank + 1) * size]

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def mean(self, values: list[float]) -> list[float]:
        """Element-wise mean of floats across ranks (identical result on every rank)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._collective_device())
        torch.distributed.all_reduce(t)
        return (t / self.world_size).tolist()

    def sum_ints(self, values: list[int]) -> list[int]:
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.int64, device=self._collective_device())
        torch.distributed.all_reduce(t)
        return [int(v) for v in t.tolist()]

    def any(self, flag: bool) -> bool:
        """True on every rank when any rank says True (a stop request on one rank stops all)."""
        if not self.enabled:
            return flag
        return self.sum_ints([int(flag)])[0] > 0

    def gather(self, value) -> list:
        """Every rank's picklable `value`, in rank order, on every rank."""
        if not self.enabled:
            return [value]
        out: list = [None] * self.world_size
        torch.distributed.all_gather_object(out, value)
        return out

    def _collective_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    def shard(self, items: list, batch_size: int) -> list:
        """This rank's slice of a global batch of `batch_size * world_size` items."""
        return items[self.rank * batch_size : (self.rank + 1) * batch_size]

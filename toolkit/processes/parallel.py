"""The transformer across several processes: data parallel (DDP) or a sharded base (FSDP2).

Data parallel (the default under `accelerate launch`): every rank holds the whole (possibly
quantized) base and the network; torch's DistributedDataParallel averages the network's
gradients in its backward hooks. `LTX2Model.runner` becomes the DDP wrapper, so training
forwards go through it while `model.transformer` stays the real module (sampling, saving).

Sharded base (`model.fsdp: true`): FSDP2 `fully_shard` on every transformer block, then on
the transformer itself. Frozen base weights and the network's adapters are sharded alike;
each rank holds 1/N of them between uses and all-gathers one block at a time for its
forward and backward; adapter gradients are reduce-scattered (averaged). Saving gathers full
tensors on every rank (a collective), only the main process writes.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from toolkit.processes.distributed import DistContext


@dataclass
class Parallel:
    """How the transformer runs in this process, and the few operations that depend on it."""

    dist: DistContext
    mode: str = "single"  # single | ddp | fsdp
    wrapper: nn.Module | None = None  # the DDP module (ddp) or the sharded transformer (fsdp)
    extra_params: list = field(default_factory=list)  # trainable, outside the wrapper: averaged by hand

    @property
    def sharded(self) -> bool:
        return self.mode == "fsdp"

    def sync_context(self, sync: bool):
        """No gradient communication on accumulation micro-steps but the last."""
        if self.mode == "ddp" and not sync:
            return self.wrapper.no_sync()
        if self.mode == "fsdp":
            self.wrapper.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()

    def finish_gradients(self) -> None:
        """Average the gradients DDP/FSDP do not see (text connectors' adapters)."""
        if self.mode == "single" or not self.extra_params:
            return
        for param in self.extra_params:
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            torch.distributed.all_reduce(param.grad)
            param.grad.div_(self.dist.world_size)


def broadcast_parameters(params: list[torch.Tensor]) -> None:
    """Rank 0's values everywhere (the adapters' random init must agree on every rank)."""
    with torch.no_grad():
        for param in params:
            torch.distributed.broadcast(param.data, src=0)


def wrap_transformer(model, network, dist: DistContext, fsdp: bool, device: torch.device) -> Parallel:
    """Wrap `model.transformer` for this world size; `model.runner` is what training calls."""
    if not dist.enabled:
        return Parallel(dist)
    transformer = model.transformer
    inside = {id(p) for p in transformer.parameters()}
    extra = [p for p in network.parameters() if id(p) not in inside]
    broadcast_parameters(network.parameters())
    if fsdp:
        shard_transformer(transformer, dist, device, model.settings.dtype)
        return Parallel(dist, "fsdp", transformer, extra)

    ddp = DistributedDataParallel(
        transformer,
        device_ids=[device.index] if device.type == "cuda" else None,
        forward_sync_buffers=False,  # buffers are the base's, loaded alike on every rank
        # Every rank loaded the same base from disk and the adapters were just broadcast:
        # no start-up broadcast of the (tens of GB of) frozen weights.
        init_sync=False,
    )
    model.runner = ddp
    return Parallel(dist, "ddp", ddp, extra)


def shard_transformer(transformer: nn.Module, dist: DistContext, device: torch.device, dtype: torch.dtype) -> None:
    """FSDP2 over the transformer blocks, then the rest of the transformer (embeddings,
    norms, projections). The adapters train in float32 while a bf16/fp16 base computes in its
    own dtype: FSDP gathers every parameter in `dtype` (one dtype per all-gather) and
    reduces gradients in float32."""
    from torch.distributed.device_mesh import init_device_mesh  # noqa: PLC0415 (torch.distributed is missing from some torch builds)
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard  # noqa: PLC0415 (torch.distributed is missing from some torch builds)

    # FSDP warns that the transformer returns views; LTX2Model.predict never changes its
    # outputs in place (it unpacks them out of place), which is what the warning is about.
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module .* returned a view tensor")
    mesh = init_device_mesh(device.type, (dist.world_size,))
    policy = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
    for block in transformer.transformer_blocks:
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(transformer, mesh=mesh, mp_policy=policy)


def full_tensor(value: torch.Tensor) -> torch.Tensor:
    """A sharded (DTensor) parameter gathered whole; other tensors unchanged. A collective
    under FSDP: every rank must call it."""
    from torch.distributed.tensor import DTensor  # noqa: PLC0415 (torch.distributed is missing from some torch builds)

    return value.full_tensor() if isinstance(value, DTensor) else value


def optimizer_state(parallel: Parallel, optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer state to save: as is, or gathered whole from the shards (FSDP)."""
    if not parallel.sharded:
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict  # noqa: PLC0415 (torch.distributed is missing from some torch builds)

    return get_optimizer_state_dict(parallel.wrapper, optimizer, options=StateDictOptions(full_state_dict=True))


def load_optimizer_state(parallel: Parallel, optimizer: torch.optim.Optimizer, state: dict) -> None:
    if not parallel.sharded:
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict  # noqa: PLC0415 (torch.distributed is missing from some torch builds)

    set_optimizer_state_dict(parallel.wrapper, optimizer, state, options=StateDictOptions(full_state_dict=True))

"""Layer offloading: frozen Linear weights rest on an offload device (CPU) and are brought to
the compute device just in time, for the forward pass and again for the backward pass.

    offload_blocks(transformer.transformer_blocks, percent=0.5, compute_device=cuda)

Each Linear inside the chosen blocks becomes an `OffloadedLinear`:
- its weight is held as a plain (unregistered) tensor on the offload device, so
  `module.to(device)` leaves it where it is; quantized weights rest and travel in their
  compact quantized form (optimum-quanto and torchao tensors are moved through their inner
  tensors);
- forward fetches the weight, computes with it cast to the activation dtype (a quantized
  weight is used as is when the activation already has its dtype, exactly as the quantized
  layer would, and dequantized to the activation dtype otherwise) and drops it;
- backward needs it again (dequantized) for the input gradient: nothing of the weight is
  saved between the two passes. Base weights are frozen, so no weight gradient exists.

Block swap (memory lever (e)): the weights move a block at a time. A block's forward
pre-hook starts the copies of the next block's weights (the previous block's during the
backward recomputation of gradient checkpointing), so transfers overlap compute, and holds
the block's own weights on the device while it runs: a layer called several times (a
feed-forward run over token chunks) is copied once. A block recomputed in backward stays on
the device through its own backward pass, which therefore copies nothing: with
checkpointing each weight crosses twice per step (forward, recomputation), not three times.
It is released when the block before it starts its recomputation, and every block at the
end of the backward pass. The host copy is the only full copy and is held once, in the form
it rests in (quantized weights stay quantized: the copy on the device is as compact).

The Linear layers outside the blocks (LTX-2's modulation embedders, as large as a block)
rest on the host as well whenever blocks are swapped (`offload_outside_blocks`): they are
used once per forward and never in backward.

On CUDA the resting tensors are pinned and copies run on a side stream. Everything is
device-agnostic: with compute and offload device both CPU the same code runs (the tests).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.memory.host_device import host_device
from toolkit.memory.qtensor import (
    dequantize_tensor,
    inner_tensors,
    is_quantized_tensor,
    map_inner_tensors,
    tensor_nbytes,
)

log = logging.getLogger(__name__)


def _in_backward() -> bool:
    """True while autograd runs a backward pass (e.g. checkpoint recomputation)."""
    task_id = getattr(torch._C, "_current_graph_task_id", None)
    return task_id is not None and task_id() != -1


class Transfer:
    """Moves resting tensors to the compute device; on CUDA on a side stream."""

    def __init__(self, compute_device: torch.device):
        self.device = torch.device(compute_device)
        self.stream = None
        if self.device.type == "cuda":
            self.stream = torch.cuda.Stream(device=self.device)
        self.fetches = 0  # copies made
        self.prefetches = 0  # of which started ahead of use
        self.reuses = 0  # uses of a weight already held on the device (block swap)

    def start(self, rest: torch.Tensor):
        """Begin a copy; returns (tensor, event) to hand to `finish`."""
        if self.stream is None:
            return map_inner_tensors(rest, lambda t: t.to(self.device)), None
        with torch.cuda.stream(self.stream):
            moved = map_inner_tensors(rest, lambda t: t.to(self.device, non_blocking=True))
            event = torch.cuda.Event()
            event.record(self.stream)
        return moved, event

    def finish(self, pending) -> torch.Tensor:
        """Make the copied tensor safe to use on the current stream."""
        moved, event = pending
        self.fetches += 1
        if event is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(event)
            for t in inner_tensors(moved):
                t.record_stream(current)  # the allocator must not reuse it before compute is done
        return moved


class _OffloadedLinearFn(torch.autograd.Function):
    """y = x Wᵀ + b with W fetched in forward and again in backward; saves nothing."""

    @staticmethod
    def forward(ctx, x, layer):
        ctx.layer = layer
        return layer.compute(x)

    @staticmethod
    def backward(ctx, grad_out):
        weight = ctx.layer.dense_weight(dtype=grad_out.dtype, device=grad_out.device)
        return grad_out.matmul(weight), None


class OffloadedLinear(nn.Linear):
    """A frozen Linear whose weight rests on the offload device (see the module doc)."""

    def __init__(self, source: nn.Linear, transfer: Transfer, offload_device: torch.device):
        nn.Module.__init__(self)
        self.in_features = source.in_features
        self.out_features = source.out_features
        self.transfer = transfer
        weight = source.weight
        self.quantized = is_quantized_tensor(weight)
        self.weight_dtype = weight.dtype
        pin = transfer.device.type == "cuda" and torch.device(offload_device).type == "cpu"

        def rest(t: torch.Tensor) -> torch.Tensor:
            t = t.detach().to(offload_device)
            return t.pin_memory() if pin else t

        with torch.no_grad():
            self._rest = map_inner_tensors(weight, rest)
        bias = source.bias
        if bias is not None:  # small: it lives with the rest of the model
            self.bias = nn.Parameter(bias.detach().as_subclass(torch.Tensor).clone(), requires_grad=False)
        else:
            self.register_parameter("bias", None)
        self._pending = None
        self._resident = None  # the device copy held while its block is resident (block swap)
        self.hold = False
        self.source_type = type(source).__name__

    # The resting weight (offload device); peft and LoKr read its shape, dtype and device.
    @property
    def weight(self) -> torch.Tensor:
        return self._rest

    @property
    def resting_nbytes(self) -> int:
        return tensor_nbytes(self._rest)

    def prefetch(self) -> None:
        if self._pending is None:
            self._pending = self.transfer.start(self._rest)
            self.transfer.prefetches += 1

    def fetch(self) -> torch.Tensor:
        if self._resident is not None:
            self.transfer.reuses += 1
            return self._resident
        pending, self._pending = self._pending, None
        moved = self.transfer.finish(pending if pending is not None else self.transfer.start(self._rest))
        if self.hold:
            self._resident = moved
        return moved

    def release(self) -> None:
        self.hold = False
        self._resident = None

    def dense_weight(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        """The weight on the compute device as a plain tensor (dequantized), no graph."""
        return dequantize_tensor(self.fetch(), dtype=dtype, device=device)

    def compute(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.fetch()
        bias = self.bias
        if self.quantized and x.dtype == self.weight_dtype:
            return F.linear(x, weight, bias)
        weight = dequantize_tensor(weight, dtype=x.dtype)
        return F.linear(x, weight, None if bias is None else bias.to(x.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _OffloadedLinearFn.apply(x, self)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"rests_on={self._rest.device}, weight={self.source_type}")


def _set_child(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def offload_module_linears(module: nn.Module, transfer: Transfer, offload_device) -> list[OffloadedLinear]:
    """Replace every Linear inside `module` (peft-wrapped base layers included)."""
    made = []
    for name, sub in list(module.named_modules()):
        if isinstance(sub, nn.Linear) and not isinstance(sub, OffloadedLinear) and name:
            new = OffloadedLinear(sub, transfer, offload_device)
            _set_child(module, name, new)
            made.append(new)
    return made


@dataclass
class OffloadReport:
    blocks: int
    of_blocks: int
    layers: int
    resting_bytes: int
    transfer: Transfer | None

    def describe(self, what: str) -> str:
        return (f"layer offloading: {self.blocks}/{self.of_blocks} {what} blocks ({self.layers} Linear layers, "
                f"{self.resting_bytes / 2**20:.1f} MiB) rest on the CPU")


def offload_blocks(blocks, percent: float, compute_device, offload_device=None) -> OffloadReport:
    """Offload the Linear weights of the first `round(percent * len(blocks))` blocks to
    `offload_device` (default: the host, toolkit/memory/host_device.py).

    Each offloaded block's forward pre-hook starts the copies of its neighbour's weights
    (the next block in forward, the previous one during backward recomputation)."""
    blocks = list(blocks)
    count = offload_share(percent, len(blocks))
    if count == 0:
        return OffloadReport(0, len(blocks), 0, 0, None)
    transfer = Transfer(torch.device(compute_device))
    rest_on = torch.device(offload_device) if offload_device is not None else host_device()
    layers_per_block = [offload_module_linears(block, transfer, rest_on) for block in blocks[:count]]
    swap = BlockSwap(layers_per_block)
    for index in range(count):
        blocks[index].register_forward_pre_hook(swap.pre_hook(index))
        blocks[index].register_forward_hook(swap.post_hook(index))
    layers = [layer for block_layers in layers_per_block for layer in block_layers]
    report = OffloadReport(count, len(blocks), len(layers), sum(l.resting_nbytes for l in layers), transfer)
    log.debug(report.describe("model"))
    return report


def offload_outside_blocks(model: nn.Module, blocks_attr: str, compute_device, offload_device=None) -> OffloadReport:
    """With block swap, the Linear layers outside `model.<blocks_attr>` rest on the host too.

    In LTX-2 these are the timestep, prompt and cross-modal modulation embedders (0.43 B
    parameters, 0.80 GiB in bf16 for 2.3: as much as a block) and the entry and exit
    projections. The embedders run once per forward on the timesteps, which carry no
    gradient, so backward never needs their weights: each is fetched when called and dropped
    (no block to hold it for), costing one crossing per forward. Call before the model moves
    to the compute device (the resting weight is not a parameter: `.to()` leaves it)."""
    transfer = Transfer(torch.device(compute_device))
    rest_on = torch.device(offload_device) if offload_device is not None else host_device()
    made = []
    for name, child in list(model.named_children()):
        if name == blocks_attr:
            continue
        if isinstance(child, nn.Linear) and not isinstance(child, OffloadedLinear):
            new = OffloadedLinear(child, transfer, rest_on)
            setattr(model, name, new)
            made.append(new)
        else:
            made += offload_module_linears(child, transfer, rest_on)
    report = OffloadReport(0, 0, len(made), sum(layer.resting_nbytes for layer in made), transfer)
    log.debug("layer offloading: %d Linear layers outside the blocks (%.1f MiB) rest on the host",
              report.layers, report.resting_bytes / 2**20)
    return report


class BlockSwap:
    """Which offloaded blocks are held on the device, driven by the blocks' forward hooks."""

    def __init__(self, layers_per_block: list[list[OffloadedLinear]]):
        self.blocks = layers_per_block
        self._release_queued = False

    def _release(self, keep: int | None = None) -> None:
        for index, layers in enumerate(self.blocks):
            if index != keep:
                for layer in layers:
                    layer.release()

    def _release_after_backward(self) -> None:
        self._release_queued = False
        self._release()

    def pre_hook(self, index: int):
        def hook(module, args):
            backward = _in_backward()
            # forward: a new pass, nothing is held; backward: the block after this one is done
            self._release(keep=index if backward else None)
            if backward and not self._release_queued:
                torch.autograd.Variable._execution_engine.queue_callback(self._release_after_backward)
                self._release_queued = True
            for layer in self.blocks[index]:
                layer.hold = True
            neighbour = index - 1 if backward else index + 1
            if 0 <= neighbour < len(self.blocks):
                for layer in self.blocks[neighbour]:
                    layer.prefetch()

        return hook

    def post_hook(self, index: int):
        def hook(module, args, output):
            if not _in_backward():  # a recomputed block stays for its own backward pass
                for layer in self.blocks[index]:
                    layer.release()

        return hook


def offload_share(percent: float, total: int) -> int:
    """How many of `total` blocks a share offloads (exposed for logs and tests)."""
    return min(total, max(0, round(percent * total)))


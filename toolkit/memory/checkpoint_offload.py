"""Lever (b): the inputs a checkpointed block keeps for its recomputation rest in host memory.

With gradient checkpointing a block keeps only its inputs until the backward pass, but at
real size those inputs are the whole token stream: 9216 x 4096 bf16 video tokens are 72 MiB
per block, 3.4 GiB over LTX-2's 48 blocks, held on the device from the forward pass to the
backward pass. Here each block's stream inputs are copied to the host as soon as the block
has been called (pinned memory, on a side stream: the copy overlaps the next block's work),
the device copy is freed, and they come back when backward recomputes the block. The copy
back for block i-1 starts when block i's recomputation starts, so it overlaps too.

"Stream inputs" are the inputs that are the previous checkpointed call's outputs (the hidden
states one block hands to the next); inputs shared by every block (the prompt, timestep and
rotary embeddings) stay where they are: they exist once, and fetching them for each block
would cost a copy per block. The values come back bit for bit, so training is unchanged.

With the device on the CPU the host is the device: the copy is then a plain CPU tensor and
the same code runs (the tests), moving no memory anywhere.

    transformer.enable_gradient_checkpointing(OffloadedCheckpoint(device))
"""

from __future__ import annotations

import weakref

import torch
from torch.utils.checkpoint import checkpoint

from toolkit.memory.host_device import host_device


class HostCopy:
    """One tensor's copy in host memory, and its way back."""

    __slots__ = ("host", "event", "requires_grad", "device", "pending", "__weakref__")

    def __init__(self, host: torch.Tensor, event, requires_grad: bool, device: torch.device):
        self.host, self.event, self.requires_grad, self.device = host, event, requires_grad, device
        self.pending = None  # a copy back already started (prefetch)


class HostStash:
    """Copies tensors to the host and back; on CUDA into pinned memory on a side stream."""

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.stream = torch.cuda.Stream(device=self.device) if self.device.type == "cuda" else None
        self.bytes_out = 0  # bytes copied to the host so far (a count for logs and tests)
        self.fetches = 0
        self.prefetches = 0

    def put(self, tensor: torch.Tensor) -> HostCopy:
        source = tensor.detach()
        self.bytes_out += source.numel() * source.element_size()
        if self.stream is None:
            return HostCopy(source.to(host_device(), copy=True), None, tensor.requires_grad, source.device)
        host = torch.empty(source.shape, dtype=source.dtype, pin_memory=True)
        self.stream.wait_stream(torch.cuda.current_stream(self.device))  # the producer has finished
        with torch.cuda.stream(self.stream):
            host.copy_(source, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self.stream)
        source.record_stream(self.stream)  # its memory is not reused before the copy is done
        return HostCopy(host, event, tensor.requires_grad, source.device)

    def prefetch(self, copy: HostCopy) -> None:
        if copy.pending is None:
            copy.pending = self._start(copy)
            self.prefetches += 1

    def _start(self, copy: HostCopy):
        if self.stream is None:
            return copy.host.to(copy.device), None
        with torch.cuda.stream(self.stream):
            self.stream.wait_event(copy.event)  # the copy out has landed
            back = copy.host.to(copy.device, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self.stream)
        return back, event

    def get(self, copy: HostCopy) -> torch.Tensor:
        """The tensor back on its device, with its requires_grad (the recomputation must save
        what the first forward saved)."""
        pending, copy.pending = copy.pending, None
        back, event = pending if pending is not None else self._start(copy)
        self.fetches += 1
        if event is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(event)
            back.record_stream(current)
        return back.detach().requires_grad_(copy.requires_grad)


class _Call:
    """One checkpointed block call: its host copies and the call before it (for prefetching)."""

    __slots__ = ("copies", "previous", "outputs", "__weakref__")

    def __init__(self, copies: dict[int, HostCopy], previous):
        self.copies = copies
        self.previous = previous  # weakref to the _Call whose outputs fed this one, or None
        self.outputs: list = []  # weakrefs to this call's output tensors


class OffloadedCheckpoint:
    """A diffusers `gradient_checkpointing_func` (module, *args) that keeps each block's stream
    inputs on the host between the forward pass and the recomputation."""

    def __init__(self, device: torch.device):
        self.stash = HostStash(device)
        # the latest call of the forward pass (its closure in autograd's graph keeps it alive)
        self._last = None

    def _stream_indices(self, args) -> list[int]:
        last = self._last() if self._last is not None else None
        if last is None:
            return []
        produced = [ref() for ref in last.outputs]
        return [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and any(a is p for p in produced)]

    def __call__(self, module, *args):
        indices = self._stream_indices(args)
        previous = self._last if indices else None
        call = _Call({i: self.stash.put(args[i]) for i in indices}, previous)
        live = {i: args[i] for i in indices}  # handed to the first run only, then dropped
        passed = tuple(None if i in live else a for i, a in enumerate(args))
        stash = self.stash

        def run(*received):
            values = list(received)
            if live:
                for i in indices:
                    values[i] = live.pop(i)
            else:  # the recomputation in backward: bring the inputs back, start the previous block's
                before = call.previous() if call.previous is not None else None
                if before is not None:
                    for copy in before.copies.values():
                        stash.prefetch(copy)
                for i, copy in call.copies.items():
                    values[i] = stash.get(copy)
            return module(*values)

        out = checkpoint(run, *passed, use_reentrant=False)
        call.outputs = [weakref.ref(t) for t in (out if isinstance(out, tuple) else (out,))
                        if isinstance(t, torch.Tensor)]
        self._last = weakref.ref(call)
        return out

"""Lever (d): the optimizer steps float32 master copies of the trained parameters in host memory.

A rank-32 LoRA of LTX-2.3 has about 340M float32 parameters; AdamW keeps two more float32
tensors per parameter, so its state alone is 2.5 GiB of device memory. Here the optimizer
is built over host copies of the trained parameters instead (pinned memory on CUDA), so its
state lives on the host, and each optimizer step is:

    backward, with `stream_gradients` (one process): each parameter's gradient goes to the
        host as soon as backward has finished it (a post-accumulate-grad hook copies it on a
        side stream into the host parameter's .grad and releases the device's), so the
        adapter gradients (1.3 GiB in float32 for LTX-2.3 at rank 32) never pile up on the
        device while backward walks down the 48 blocks; after_backward() waits for the copies
        (and adds a later micro-batch's gradients to the earlier ones on the host)
    gather_gradients(): without streaming (data-parallel runs, whose gradients are averaged
        on the device after backward), device gradients -> host .grad (one side-stream copy,
        then the device gradients are released), before clipping
    clip, optimizer.step() on the host (torch's fused CPU AdamW)
    publish(): host parameters -> device parameters on a side stream; the device's compute
        stream waits for the copy on the GPU side, so the CPU goes straight on to building the
        next batch while the copy runs (the step's copies overlap the next step's work)

The optimizer, its state dict and the learning-rate schedule are ordinary torch objects over
ordinary parameters: checkpoints have the same layout with or without this lever, and resume
is exact. With the device on the CPU the host copies are separate CPU tensors and the same
code runs (the tests): the same kernels on the same values, so training is bit-identical.
"""

from __future__ import annotations

import torch
from torch import nn

from toolkit.memory.host_device import host_device


class HostOptimizerStep:
    """Host master copies of `params` (trained parameters on `device`) and the copies between them."""

    def __init__(self, params, device: torch.device, stream_gradients: bool = True):
        self.device = torch.device(device)
        self.device_params = list(params)
        cuda = self.device.type == "cuda"
        self.stream = torch.cuda.Stream(device=self.device) if cuda else None
        self.streaming = stream_gradients
        self._extra: dict[int, torch.Tensor] = {}  # a later micro-batch's gradients, landed (CUDA)
        self._pending_adds: list[int] = []  # parameters whose _extra is still to be added

        def host_copy(t: torch.Tensor) -> torch.Tensor:
            copy = t.detach().to(host_device(), copy=True)
            return copy.pin_memory() if cuda else copy

        with torch.no_grad():
            self.host_params = [nn.Parameter(host_copy(p), requires_grad=True) for p in self.device_params]
        # gradient landing buffers, reused every step (pinned: asynchronous copies)
        self._grad_buffers = [host_copy(torch.zeros_like(p)) for p in self.host_params] if cuda else None
        self._host_copy = host_copy
        if stream_gradients:
            for index, param in enumerate(self.device_params):
                param.register_post_accumulate_grad_hook(self._grad_hook(index))

    def _grad_hook(self, index: int):
        def to_host(param: torch.Tensor) -> None:
            grad, param.grad = param.grad, None  # the device's copy is released here
            host = self.host_params[index]
            with torch.no_grad():
                if self.stream is None:
                    landed = grad.detach().to(host_device(), copy=True)
                    if host.grad is None:
                        host.grad = landed
                    else:  # the same float32 sum the device's accumulation would make
                        host.grad += landed
                    return
                if host.grad is None:
                    target = host.grad = self._grad_buffers[index]
                else:
                    if index not in self._extra:
                        self._extra[index] = self._host_copy(torch.zeros_like(host))
                    target = self._extra[index]
                self.stream.wait_stream(torch.cuda.current_stream(self.device))
                with torch.cuda.stream(self.stream):
                    target.copy_(grad, non_blocking=True)
                grad.record_stream(self.stream)
                if target is not host.grad:
                    self._pending_adds.append(index)
        return to_host

    def for_optimizer(self, params):
        """`params` (a list of device parameters, or param groups of them) with each device
        parameter replaced by its host copy: what the optimizer is built over."""
        host_of = {id(d): h for d, h in zip(self.device_params, self.host_params, strict=True)}
        params = list(params)
        if params and isinstance(params[0], dict):
            return [{**group, "params": [host_of[id(p)] for p in group["params"]]} for group in params]
        return [host_of[id(p)] for p in params]

    @property
    def host_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.host_params)

    @torch.no_grad()
    def after_backward(self) -> None:
        """Wait for the gradients copied during backward; add a later micro-batch's to the
        host gradients (streaming only; nothing to do on the CPU, where the hook added them)."""
        if not self.streaming or self.stream is None:
            return
        self.stream.synchronize()
        for index in self._pending_adds:
            self.host_params[index].grad += self._extra[index]
        self._pending_adds.clear()

    def zero_device_grads(self) -> None:
        for p in self.device_params:
            p.grad = None

    @torch.no_grad()
    def gather_gradients(self) -> None:
        """The device gradients onto the host parameters' .grad (None where there is none), then
        the device gradients are released. Streaming: they are there already."""
        if self.streaming:
            self.after_backward()
            return
        if self.stream is None:
            for device_p, host_p in zip(self.device_params, self.host_params, strict=True):
                host_p.grad = None if device_p.grad is None else device_p.grad.detach().to(host_device(), copy=True)
            self.zero_device_grads()
            return
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            for device_p, host_p, buffer in zip(self.device_params, self.host_params, self._grad_buffers, strict=True):
                if device_p.grad is None:
                    host_p.grad = None
                    continue
                buffer.copy_(device_p.grad, non_blocking=True)
                device_p.grad.record_stream(self.stream)
                host_p.grad = buffer
        self.stream.synchronize()  # the host step reads them next
        self.zero_device_grads()

    @torch.no_grad()
    def publish(self) -> None:
        """The host parameters (just stepped) onto the device parameters."""
        if self.stream is None:
            for device_p, host_p in zip(self.device_params, self.host_params, strict=True):
                device_p.copy_(host_p)
            return
        current = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(current)  # nothing on the device still reads the old values
        with torch.cuda.stream(self.stream):
            for device_p, host_p in zip(self.device_params, self.host_params, strict=True):
                device_p.copy_(host_p, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self.stream)
        current.wait_event(event)  # the next forward waits on the GPU, not the CPU

"""A whole training step of the real-size model, traced with fake tensors: the plan's check.

    result = trace_step("2.3", TrainShape.from_clip(768, 768, 121, 24.0, 5.0), settings)
    result.device_peak, result.host_peak

The trainer's own code runs, at the released configuration, under
`torch._subclasses.fake_tensor.FakeTensorMode` (shapes, dtypes and devices only: nothing is
allocated and nothing is computed) with a MemTracker (tracker.py) counting every storage per
device: the diffusers transformer (and text connectors, when they train) placed by the
adapter's own phased loading (`LTX2Model.enter_phase("train")`: quantized, offloaded, moved
block by block, from a source that builds instead of reading files: `FakeSource`), the
adapter's checkpointing, levers and conditioning, the trainer's network
(toolkit/lora/network.py, levers (a) and (f)), optimizer (toolkit/train/optimizers.py, and lever (d)'s
host step), and loss (`SDTrainer.compute`, voice preservation included), backward, gradient
clipping and the optimizer step.

Fake CUDA tensors cannot run backward on a CPU-only torch, so the compute device is played
by fake CPU tensors (which also makes attention take the O(tokens) flash kernel, as on a
GPU), and host memory by fake "meta" tensors (toolkit/memory/host_device.py redirects every
lever's host tensors there). The device peak is the CPU total, the host figure the meta total.

Two readouts of values cannot run without values: `.item()` (the loss metrics, the audio
balancer, `if mask.any()`) reads 1, and a boolean mask selects every row. So both the
supervised-audio branch and the voice-preservation branch of the loss run, as in a batch
that mixes clips with and without a voice (the heavier case).

The optimizer's state is made before the traced step (a step on zero gradients): the plan is
for the steady state, where the state exists while the backward pass runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch
from diffusers import LTX2VideoTransformer3DModel
from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorConverter, FakeTensorMode

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings, PromptEmbeds
from extensions_built_in.diffusion_models.ltx2.real_configs import CONNECTORS, transformer_config
from extensions_built_in.diffusion_models.ltx2.versions import version_by_number
from extensions_built_in.sd_trainer.SDTrainer import LossSettings, SDTrainer
from toolkit.data_transfer_object.data_loader import TrainBatch
from toolkit.lora.network import Network, NetworkSettings
from toolkit.memory.dtypes import DTYPES
from toolkit.memory.estimate import MemorySettings, TrainShape
from toolkit.memory.host_device import host_redirected
from toolkit.memory.optimizer_offload import HostOptimizerStep
from toolkit.memory.plan.tracker import Phase, StepMemTracker
from toolkit.train.optimizers import build_optimizer

DEVICE = torch.device("cpu")  # plays the GPU
HOST = torch.device("meta")  # plays host memory


@dataclass
class TraceResult:
    device_peak: int  # bytes on the compute device at the step's peak
    host_peak: int  # bytes in host memory at its peak (offloaded weights, host copies, optimizer)
    device_resting: int  # on the device before the step: weights, adapters, optimizer state
    host_resting: int
    device_parts: dict = field(default_factory=dict)  # MemTracker's categories at the device peak
    seconds: float = 0.0  # wall time of the whole trace (build included)


class _NoMemoConverter(FakeTensorConverter):
    """FakeTensorMode remembers every fake tensor it makes through a weak reference, and
    `nn.Module.to()` replaces fake parameters with `torch.utils.swap_tensors`, which refuses a
    tensor that has one. Fresh tensors need no memo (it maps real tensors to their fakes, and
    this trace has no real tensors), so none is kept."""

    def from_meta_and_device(self, fake_mode, t, device, pytype=None, dispatch_keys=None):
        return FakeTensor(fake_mode, t, device, pytype=pytype, dispatch_keys=dispatch_keys)


def fake_mode() -> FakeTensorMode:
    mode = FakeTensorMode()
    mode.fake_tensor_converter = _NoMemoConverter()
    return mode


class _StepTracker(StepMemTracker):
    """The tracker, plus the two reads of tensor values a training step makes (module doc)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.prim.device.default and isinstance(args[0], FakeTensor):
            return args[0].fake_device  # torch asks for devices more often than it runs ops: answered here
        if func is torch.ops.aten._local_scalar_dense.default:
            return True if args[0].dtype == torch.bool else 1
        if func is torch.ops.aten.index.Tensor and any(i is not None and i.dtype == torch.bool for i in args[1]):
            func, args, kwargs = torch.ops.aten.clone.default, (args[0],), {}  # every row selected
        return super().__torch_dispatch__(func, types, args, kwargs)


class FakeSource:
    """What `LTX2Model` reads its components from (loading.ComponentSource's interface), with
    each component built fake at its released configuration instead of read from files. A
    component is built in host memory, as the loader reads it, and handed to the model's own
    placement block by block (quantized, offloaded or moved to the device as the run would)."""

    def __init__(self, version: str, transformer: dict, dtype: torch.dtype):
        self.source = f"LTX-{version} at its released configuration (fake tensors)"
        self.version, self.dtype = version, dtype
        self.configs = {"transformer": transformer, "connectors": dict(CONNECTORS[version])}
        self.small = {"tokenizer": SimpleNamespace(model_max_length=1024), "scheduler": None}

    def params(self, component: str) -> int:
        """Parameters of a component at its released configuration (built on the meta device)."""
        with torch.device("meta"):
            return sum(p.numel() for p in self._class(component)(**self.configs[component]).parameters())

    @staticmethod
    def _class(component: str):
        classes = {"transformer": LTX2VideoTransformer3DModel, "connectors": LTX2TextConnectors}
        if component not in classes:
            raise ValueError(f"the trace builds the transformer and the connectors, not the {component}")
        return classes[component]

    def open(self, component: str, units=(), finish=None):
        cls = self._class(component)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)  # built in the compute dtype, as the loader reads it
        try:
            with torch.device(HOST):
                module = cls(**self.configs[component])
        finally:
            torch.set_default_dtype(previous)
        for unit in [u for u in units if u]:
            if finish is not None:
                finish(unit, module.get_submodule(unit))
        if finish is not None:
            finish("", module)
        return module.eval()


def _batch(config: dict, shape: TrainShape, dtype: torch.dtype):

    frames, height, width = shape.grid
    b = shape.batch
    video_text = config["caption_channels"] if config.get("use_prompt_embeddings", True) else config["cross_attention_dim"]
    audio_text = config["caption_channels"] if config.get("use_prompt_embeddings", True) else config["audio_cross_attention_dim"]
    prompt = PromptEmbeds(video=torch.empty(b, shape.text_tokens, video_text, dtype=dtype),
                          audio=torch.empty(b, shape.text_tokens, audio_text, dtype=dtype),
                          mask=torch.ones(b, shape.text_tokens))
    audio = torch.empty(b, shape.audio_tokens, config["audio_in_channels"])
    return TrainBatch(
        video_latents=torch.empty(b, config["in_channels"], frames, height, width),
        audio_latents=audio, audio_supervised=torch.ones(b, dtype=torch.bool), audio_per_item=list(audio),
        prompt=prompt, paths=["trace"] * b, fps=24.0, loss_multiplier=torch.ones(b),
        i2v=torch.zeros(b, dtype=torch.bool))


def _model_settings(version: str, settings: MemorySettings, dtype: torch.dtype):

    return LTX2Settings(
        dtype=dtype, device=DEVICE, version=version_by_number(version),
        gradient_checkpointing=settings.checkpointing, quantize=settings.qtype is not None,
        qtype=settings.qtype or "qfloat8", layer_offloading=settings.offload_percent > 0,
        layer_offloading_transformer_percent=settings.offload_percent,
        train_text_encoder=settings.train_text_encoder, sampling=False,
        offload_checkpoints=settings.offload_checkpoints, ff_chunk_tokens=settings.ff_chunk_tokens)


def trace_step(version: str, shape: TrainShape, settings: MemorySettings, *, blocks: int | None = None,
               progress: Callable[[str], None] | None = None) -> TraceResult:
    """Trace one training step (see the module doc); `blocks` < 48 for a shorter model."""

    start = time.perf_counter()
    say = progress or (lambda _: None)
    dtype = DTYPES[settings.dtype]
    config = transformer_config(version, blocks)
    tracker = _StepTracker()
    with fake_mode(), host_redirected(HOST), tracker, torch.random.fork_rng(devices=[]):
        say("building the model")
        model = LTX2Model(FakeSource(version, config, dtype), _model_settings(version, settings, dtype), phased=True)
        model.enter_phase("train")  # the run's own loading: quantized, offloaded, placed
        network = Network(model.transformer, NetworkSettings(
            type=settings.network, rank=settings.rank, alpha=settings.rank, model_version=version,
            lora_precision=settings.lora_precision, lora_cast_before_add=settings.lora_cast_before_add),
            connectors=model.connectors if settings.train_text_encoder else None, device=DEVICE,
            key_namer=model.lora_key_namer)
        model.transformer.train()
        host_step = HostOptimizerStep(network.parameters(), DEVICE) if settings.optimizer_offload else None
        stepped = host_step.host_params if host_step is not None else network.parameters()
        optimizer = build_optimizer(settings.optimizer, stepped, 1e-4, {})
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for p in params:  # the optimizer's state exists in the steady state
            p.grad = torch.zeros_like(p)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        batch = _batch(config, shape, dtype)
        trainer = SDTrainer(model, network, LossSettings(), generator=torch.Generator().manual_seed(0))
        device_resting, host_resting = tracker.current(DEVICE), tracker.current(HOST)
        tracker.reset_peak()
        say("tracing the step")
        tracker.phase = Phase.FORWARD
        losses = trainer.compute(batch)
        losses.total.backward()  # labelled BACKWARD by the tracker
        del losses
        if host_step is not None:
            host_step.after_backward()
        tracker.phase = Phase.OPTIMIZER
        if host_step is not None:
            host_step.gather_gradients()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if host_step is not None:
            host_step.publish()
        optimizer.zero_grad(set_to_none=True)
        return TraceResult(tracker.peak(DEVICE), tracker.peak(HOST), device_resting, host_resting,
                           tracker.peak_parts(DEVICE), time.perf_counter() - start)

"""A whole training step of the real-size model, traced with fake tensors: the plan's check.

    result = trace_step("2.3", TrainShape.from_clip(768, 768, 121, 24.0, 5.0), settings)
    result.device_peak, result.host_peak

The trainer's own code runs, at the released configuration, under
`torch._subclasses.fake_tensor.FakeTensorMode` (shapes, dtypes and devices only: nothing is
allocated and nothing is computed) with a MemTracker (tracker.py) counting every storage per
device: the diffusers transformer and text connectors, quantization and layer offloading as
`LTX2Model._reduce_memory` applies them, the adapter's checkpointing and conditioning, the
trainer's network (toolkit/network.py), optimizer (toolkit/optimizers.py) and loss
(`SDTrainer.compute`, voice preservation included), backward, gradient clipping and the
optimizer step.

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
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorConverter, FakeTensorMode

from toolkit.dtypes import DTYPES
from toolkit.memory.estimate import MemorySettings, TrainShape
from toolkit.memory.host_device import host_redirected
from toolkit.memory.plan.tracker import Phase, StepMemTracker
from toolkit.memory.real_configs import CONNECTORS, transformer_config

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
        if func is torch.ops.aten._local_scalar_dense.default:
            return True if args[0].dtype == torch.bool else 1
        if func is torch.ops.aten.index.Tensor and any(i is not None and i.dtype == torch.bool for i in args[1]):
            func, args, kwargs = torch.ops.aten.clone.default, (args[0],), {}  # every row selected
        return super().__torch_dispatch__(func, types, args, kwargs)


def build_components(version: str, config: dict, dtype: torch.dtype) -> dict:
    """The components a training step touches, built (fake) at their released configuration
    in the compute dtype; the text encoder and the VAEs are not used by a step (captions and
    clips are encoded before training) and are stood in for by empty modules."""
    from diffusers import LTX2VideoTransformer3DModel  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in the compute dtype, as the loader gives it
    try:
        transformer = LTX2VideoTransformer3DModel(**config)
        connectors = LTX2TextConnectors(**CONNECTORS[version])
    finally:
        torch.set_default_dtype(previous)
    unused = {name: torch.nn.Module() for name in ("vae", "audio_vae", "vocoder")}
    text_encoder = torch.nn.Module()
    text_encoder.layers = torch.nn.ModuleList()  # nothing for text-encoder quantization or offloading
    return dict(transformer=transformer, connectors=connectors, text_encoder=text_encoder,
                tokenizer=SimpleNamespace(model_max_length=1024), scheduler=None, **unused)


def _batch(config: dict, shape: TrainShape, dtype: torch.dtype):
    from extensions_built_in.diffusion_models.ltx2.ltx2 import PromptEmbeds  # noqa: PLC0415 (toolkit reaching into the adapter: its prompt type)
    from toolkit.data_transfer_object.data_loader import TrainBatch  # noqa: PLC0415 (heavy: torch-side data types, imported with the trace)

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
    from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Settings  # noqa: PLC0415 (toolkit reaching into the adapter: its settings type)
    from extensions_built_in.diffusion_models.ltx2.versions import version_by_number  # noqa: PLC0415 (toolkit reaching into the adapter: the version table)

    return LTX2Settings(
        dtype=dtype, device=DEVICE, version=version_by_number(version),
        gradient_checkpointing=settings.checkpointing, quantize=settings.qtype is not None,
        qtype=settings.qtype or "qfloat8", layer_offloading=settings.offload_percent > 0,
        layer_offloading_transformer_percent=settings.offload_percent, low_vram=True,
        train_text_encoder=settings.train_text_encoder)


def trace_step(version: str, shape: TrainShape, settings: MemorySettings, *, blocks: int | None = None,
               progress: Callable[[str], None] | None = None) -> TraceResult:
    """Trace one training step (see the module doc); `blocks` < 48 for a shorter model."""
    from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model  # noqa: PLC0415 (toolkit reaching into the adapter: the model it traces)
    from extensions_built_in.sd_trainer.SDTrainer import LossSettings, SDTrainer  # noqa: PLC0415 (the loss it traces)
    from toolkit.network import Network, NetworkSettings  # noqa: PLC0415 (heavy (peft): loaded when first needed)
    from toolkit.optimizers import build_optimizer  # noqa: PLC0415 (start-up: run.py loads this module before torch)

    start = time.perf_counter()
    say = progress or (lambda _: None)
    dtype = DTYPES[settings.dtype]
    config = transformer_config(version, blocks)
    tracker = _StepTracker()
    with fake_mode(), host_redirected(HOST), tracker, torch.random.fork_rng(devices=[]):
        say("building the model")
        components = build_components(version, config, dtype)
        model_settings = _model_settings(version, settings, dtype)
        LTX2Model._reduce_memory(components, model_settings)
        components["transformer"].to(DEVICE)
        components["connectors"].to(DEVICE if settings.connectors or settings.train_text_encoder else HOST)
        model = LTX2Model(components, model_settings, "trace")
        network = Network(model.transformer, NetworkSettings(type=settings.network, rank=settings.rank,
                                                             alpha=settings.rank, model_version=version),
                          connectors=model.connectors if settings.train_text_encoder else None, device=DEVICE)
        model.transformer.train()
        optimizer = build_optimizer(settings.optimizer, network.parameters(), 1e-4, {})
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
        tracker.phase = Phase.OPTIMIZER
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return TraceResult(tracker.peak(DEVICE), tracker.peak(HOST), device_resting, host_resting,
                           tracker.peak_parts(DEVICE), time.perf_counter() - start)

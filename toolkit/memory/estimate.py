"""The memory a LoRA training step needs on the compute device, per component (docs/memory.md).

    est = estimate(transformer_config("2.3"), TrainShape.from_clip(768, 768, 121, 24.0),
                   MemorySettings(qtype="qfloat8", checkpointing=True))
    est.total, est.components

The model:
- weights: parameters counted from the config (the class built on the meta device: no
  memory, no compute) times bytes per parameter: the compute dtype, or for the quantized
  Linear weights of the blocks 1 byte plus one scale per output channel; biases, norms,
  modulation tables and everything outside the blocks stay in the compute dtype. Offloaded
  blocks rest in host memory; two blocks' weights are in flight on the device.
- network: the adapter parameters (float32) + their gradients (float32) + the optimizer
  state per parameter (AdamW two float32 moments, 8-bit AdamW two bytes, Adafactor and
  Prodigy as listed in OPTIMIZER_STATE_BYTES).
- activations: what a block saves for backward, per video token, per audio token and a fixed
  text-side part (activations.py measures it with autograd's own accounting; the table below
  holds the figures for the released configs). Without checkpointing every block keeps its
  set; with it each block keeps only its inputs (the video and audio hidden states, in the
  compute dtype) and one block at a time keeps the full set while it is recomputed.
- workspace: the largest transient tensors of a backward step (the feed-forward hidden
  layer's gradient in its four forms, see `estimate`, and the hidden-state gradients), and
  on CUDA the context, which max_memory_allocated does not see.
The caching phase (text encoder and VAE encoders, before training) is estimated apart:
`caching_bytes`.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field, replace

import torch

from toolkit.memory.activations import BlockActivations, trace_block
from toolkit.memory.dtypes import DTYPES
from toolkit.memory.real_configs import (
    AUDIO_LATENTS_PER_S,
    AUDIO_VAE_PARAMS,
    CONNECTOR_PARAMS,
    TEXT_ENCODER_PARAMS,
    TEXT_TOKENS,
    TRANSFORMER,
    VAE_SPATIAL,
    VAE_TEMPORAL,
    VIDEO_VAE_PARAMS,
    VOCODER_PARAMS,
)

GiB = 1024 ** 3
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
QUANTIZED_WEIGHT_BYTES = 1  # qfloat8, qint8, torchao int8/float8: one byte per weight (+ scales)
QTYPES = ("qfloat8", "qint8", "torchao_int8", "torchao_float8")
OPTIMIZER_STATE_BYTES = {"adamw": 8, "adamw8bit": 2, "prodigy": 16, "dadaptation": 12, "adafactor": 4}
CUDA_CONTEXT_BYTES = 0.6 * GiB  # CUDA context + cuBLAS/cuDNN workspaces, outside max_memory_allocated

# Saved activations of one block (bf16, LoRA rank 32), measured by activations.trace_block on
# the released configs: bytes per video token, per audio token, and fixed (text side).
# `bench/real_size.py --trace` prints these figures again.
ACTIVATIONS = {
    ("2.0", "lora"): BlockActivations(534_436.0, 296_868.0, 101_462_016.0),
    ("2.3", "lora"): BlockActivations(584_356.0, 322_212.0, 101_511_168.0),
    ("2.5", "lora"): BlockActivations(584_356.0, 322_212.0, 101_511_168.0),
}


# What quantized Linears keep on top of that (the same trace, 2.3, quantized first): quanto's
# layers keep an extra copy of their input (per token); torchao's keep the dequantized weights
# of the block (fixed). Applied to every version (2.0's Linears are 0.2% smaller).
QUANTIZED_EXTRA = {
    "qfloat8": BlockActivations(86_016.0, 45_056.0, 0.0),
    "qint8": BlockActivations(86_016.0, 45_056.0, 0.0),
    "torchao_int8": BlockActivations(0.0, 0.0, 562_958_592.0),
    "torchao_float8": BlockActivations(0.0, 0.0, 562_823_168.0),
}


@dataclass(frozen=True)
class TrainShape:
    """Tokens of one training item: video latents (frames x height x width / 32^2 / 8) and audio latents."""

    video_tokens: int
    audio_tokens: int
    text_tokens: int = TEXT_TOKENS
    batch: int = 1

    @classmethod
    def from_clip(cls, width: int, height: int, frames: int, fps: float, audio_seconds: float | None = None,
                  batch: int = 1) -> TrainShape:
        latent_frames = (frames - 1) // VAE_TEMPORAL + 1
        video = latent_frames * math.ceil(height / VAE_SPATIAL) * math.ceil(width / VAE_SPATIAL)
        seconds = frames / fps if audio_seconds is None else audio_seconds
        return cls(video, int(round(seconds * AUDIO_LATENTS_PER_S)), batch=batch)


@dataclass(frozen=True)
class MemorySettings:
    dtype: str = "bf16"
    qtype: str | None = None  # None: not quantized
    network: str = "lora"
    rank: int = 32
    optimizer: str = "adamw"
    checkpointing: bool = True
    offload_percent: float = 0.0  # share of the blocks whose weights rest in host memory
    blocks: int | None = None  # None: all of the config's blocks
    cuda: bool = True  # add the CUDA context (not seen by max_memory_allocated)
    connectors: bool = True  # the text connectors stay on the device (they run every step)
    # Released configs only (the components' sizes are known): what else stays on the device
    # while training. Without model.low_vram the VAEs and vocoder stay; the text encoder stays
    # unless low_vram or train.unload_text_encoder moves it off.
    text_encoder_on_device: bool = False
    vaes_on_device: bool = False
    quantize_te: bool = False


@dataclass
class Estimate:
    components: dict = field(default_factory=dict)  # name -> bytes on the compute device
    host: dict = field(default_factory=dict)  # name -> bytes resting in host memory (offloading)

    @property
    def total(self) -> float:
        return float(sum(self.components.values()))

    def table(self) -> str:
        rows = [f"  {name:<28} {value / GiB:8.2f} GiB" for name, value in self.components.items()]
        rows.append(f"  {'total':<28} {self.total / GiB:8.2f} GiB")
        return "\n".join(rows)


@dataclass(frozen=True)
class ParamCounts:
    """Parameters of one block by kind, the rest of the transformer, and the network's."""

    block_linear_weights: int
    block_other: int
    outside_blocks: int
    network_per_block: int
    linears_per_block: int
    layers: int
    block_linear_out_features: int


@functools.lru_cache(maxsize=32)
def _counts(config_key: str, network: str, rank: int) -> ParamCounts:
    from diffusers import LTX2VideoTransformer3DModel  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)

    config = json.loads(config_key)
    with torch.device("meta"):
        one = LTX2VideoTransformer3DModel(**dict(config, num_layers=1))
    block = one.transformer_blocks[0]
    linear_w = network_params = linears = out_features = 0
    for module in block.modules():
        if isinstance(module, torch.nn.Linear):
            linears += 1
            linear_w += module.weight.numel()
            out_features += module.out_features
            network_params += rank * (module.in_features + module.out_features)
            if network == "dora":
                network_params += module.out_features  # the magnitude vector
    total_one = sum(p.numel() for p in one.parameters())
    block_total = sum(p.numel() for p in block.parameters())
    return ParamCounts(linear_w, block_total - linear_w, total_one - block_total, network_params, linears,
                       config["num_layers"], out_features)


def _key(config: dict) -> str:
    """A hashable form of a config (lists inside) for the caches."""
    return json.dumps(config, sort_keys=True)


def param_counts(config: dict, network: str = "lora", rank: int = 32) -> ParamCounts:
    return _counts(_key(config), network, rank)


def _release_of(config: dict) -> str | None:
    for version, real in TRANSFORMER.items():
        if all(config.get(k) == v for k, v in real.items() if k != "num_layers"):
            return version
    return None


@functools.lru_cache(maxsize=8)
def _traced(config_key: str, network: str, rank: int, dtype: str, qtype: str | None) -> BlockActivations:
    return trace_block(json.loads(config_key), DTYPES[dtype], network, rank, qtype=qtype)


def block_activations(config: dict, network: str = "lora", rank: int = 32, dtype: str = "bf16",
                      qtype: str | None = None) -> BlockActivations:
    """The measured tables for released configs (bf16 LoRA; other dtypes scaled), else a trace of this config."""
    release = _release_of(config)
    if release is None:
        return _traced(_key(config), network, rank, dtype, qtype)
    base = _released_activations(release, network, dtype)
    if not qtype:
        return base
    extra = QUANTIZED_EXTRA[qtype]
    return BlockActivations(base.per_video_token + extra.per_video_token, base.per_audio_token + extra.per_audio_token,
                            base.fixed + extra.fixed)


def _released_activations(release: str, network: str, dtype: str) -> BlockActivations:
    # DoRA on a released config: LoRA's figures (a real-width trace would cost a minute and a
    # few GB at start-up); DoRA keeps somewhat more, see docs/memory.md.
    known = ACTIVATIONS.get((release, network)) or ACTIVATIONS[(release, "lora")]
    scale = 1.0 if dtype != "fp32" else 1.5  # float32 copies stay float32; the rest doubles (not measured)
    return BlockActivations(known.per_video_token * scale, known.per_audio_token * scale, known.fixed * scale)


def estimate(config: dict, shape: TrainShape, settings: MemorySettings = MemorySettings()) -> Estimate:
    """Bytes on the compute device during a training step (see the module docstring)."""
    if settings.qtype is not None and settings.qtype not in QTYPES:
        raise ValueError(f"unknown qtype '{settings.qtype}': use one of {', '.join(QTYPES)}")
    b = DTYPE_BYTES[settings.dtype]
    counts = param_counts(config, settings.network, settings.rank)
    blocks = settings.blocks if settings.blocks is not None else counts.layers
    if settings.qtype:
        # one byte per weight and one compute-dtype scale per output channel
        per_block = counts.block_linear_weights * QUANTIZED_WEIGHT_BYTES + counts.block_linear_out_features * b
    else:
        per_block = counts.block_linear_weights * b
    per_block += counts.block_other * b
    est = Estimate()
    resident_blocks = blocks
    if settings.offload_percent > 0:
        offloaded = int(round(blocks * settings.offload_percent))
        resident_blocks = blocks - offloaded
        est.host["offloaded blocks"] = offloaded * per_block
        in_flight = min(2, offloaded)  # the block computing and the one being fetched
        est.components["offload buffers"] = in_flight * per_block
    est.components["transformer blocks"] = resident_blocks * per_block
    est.components["transformer (outside blocks)"] = counts.outside_blocks * b
    release = _release_of(config)
    if release and settings.connectors:
        est.components["text connectors"] = CONNECTOR_PARAMS[release] * b
    if release and settings.text_encoder_on_device:
        est.components["text encoder (idle)"] = TEXT_ENCODER_PARAMS[release] * (
            QUANTIZED_WEIGHT_BYTES if settings.quantize_te else b)
    if release and settings.vaes_on_device:
        est.components["VAEs + vocoder (idle)"] = (VIDEO_VAE_PARAMS[release] + AUDIO_VAE_PARAMS[release]
                                                   + VOCODER_PARAMS[release]) * b
    n_net = counts.network_per_block * blocks
    state = OPTIMIZER_STATE_BYTES.get(settings.optimizer, 8)
    est.components["network + grads + optimizer"] = n_net * (4 + 4 + state)

    acts = block_activations(config, settings.network, settings.rank, settings.dtype, settings.qtype)
    tv, ta = shape.video_tokens * shape.batch, shape.audio_tokens * shape.batch
    full_block = acts.bytes(tv, ta) + acts.fixed * (shape.batch - 1)
    video_dim = config["num_attention_heads"] * config["attention_head_dim"]
    audio_dim = config["audio_num_attention_heads"] * config["audio_attention_head_dim"]
    if settings.checkpointing:
        boundary = (tv * video_dim + ta * audio_dim) * b
        est.components["activations"] = blocks * boundary + full_block
    else:
        est.components["activations"] = blocks * full_block
    # Backward transients, at their largest in the video feed-forward: the gradient of its
    # 4x-wide hidden layer exists at once as the adapter path's float32 gradient (4 bytes),
    # its cast back to the compute dtype (2), the frozen path's gradient (2) and their sum (2);
    # plus the gradients of the block's video and audio hidden states (float32, in and out).
    ffn = 4 * video_dim
    est.components["backward workspace"] = tv * ffn * (4 + 3 * b) + 2 * (tv * video_dim + ta * audio_dim) * 4
    if settings.cuda:
        est.components["CUDA context"] = CUDA_CONTEXT_BYTES
    return est


def caching_bytes(config: dict, settings: MemorySettings = MemorySettings()) -> float:
    """Weights on the device while captions and clips are encoded, before the first step: the
    transformer as it rests (quantized, minus offloaded blocks), the connectors, the text
    encoder and the VAE encoders (a released config; 0 for others). Encoder activations are
    not counted (the text encoder at 1024 tokens needs well under 1 GiB)."""
    release = _release_of(config)
    if not release:
        return 0.0
    b = DTYPE_BYTES[settings.dtype]
    train = estimate(config, TrainShape(0, 0), replace(settings, cuda=False, text_encoder_on_device=False,
                                                       vaes_on_device=False))
    resting = sum(v for k, v in train.components.items() if k in (
        "transformer blocks", "offload buffers", "transformer (outside blocks)", "text connectors"))
    te = TEXT_ENCODER_PARAMS[release] * (QUANTIZED_WEIGHT_BYTES if settings.quantize_te else b)
    vaes = (VIDEO_VAE_PARAMS[release] + AUDIO_VAE_PARAMS[release] + VOCODER_PARAMS[release]) * b
    return resting + te + vaes + (CUDA_CONTEXT_BYTES if settings.cuda else 0.0)

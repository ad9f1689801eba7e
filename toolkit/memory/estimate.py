"""The memory a LoRA training step needs on the compute device, per part (docs/memory.md).

    est = estimate(transformer_config("2.3"), TrainShape.from_clip(768, 768, 121, 24.0),
                   MemorySettings(qtype="qfloat8", checkpointing=True))
    est.total, est.components

The model (the parts of `Estimate.components`, at the backward pass's peak):
- weights: parameters counted from the config (the class built on the meta device: no
  memory, no compute) times bytes per parameter: the compute dtype, or for the quantized
  Linear weights of the blocks 1 byte plus one scale per output channel; biases, norms,
  modulation tables and everything outside the blocks stay in the compute dtype. Swapped
  blocks (lever e) rest in host memory (`Estimate.host`); the next one is prefetched onto
  the device while one computes. With every block swapped, the Linear layers outside the
  blocks (the modulation embedders: 0.43 B parameters in 2.3) rest on the host too: they run
  once per forward on the timesteps and never in backward.
- network: the adapter parameters (float32) + the optimizer state per parameter (AdamW two
  float32 moments, 8-bit AdamW two bytes, Adafactor and Prodigy as in OPTIMIZER_STATE_BYTES);
  with lever (d) the state, a float32 master copy and a gradient buffer are on the host, and
  each gradient goes there as backward finishes it (one process: optimizer_offload.py).
  Without it the float32 gradients pile up on the device during backward and all exist while
  the optimizer steps (`Estimate.optimizer_step`).
- checkpointed block inputs: each block's video and audio streams in the compute dtype
  (lever (b): three on the device at the peak, the rest on the host).
- the step itself: what a step adds above that at its peak, measured at real size on one
  block for the released configs and the settings the plan chooses among
  (plan/calibrate.py, calibration.json); for other configs or settings counted by hand
  (`_counted_step`: one block's saved set from activations.py, and the feed-forward's
  backward transients).
- on CUDA the context, which max_memory_allocated does not see.
The other phases of a run (caption and clip encoding, loading) and host memory are the
plan's (toolkit/memory/plan/): it builds on these figures.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace

import torch
from diffusers import LTX2VideoTransformer3DModel

from toolkit.memory.activations import BlockActivations, trace_block
from toolkit.memory.dtypes import DTYPES
from toolkit.memory.plan.calibrate import boundary_bytes, chunk_saving_per_token, lookup
from toolkit.memory.plan.settings import (  # noqa: F401 - re-exported: the plan's types live in plan/settings.py
    CUDA_CONTEXT_BYTES,
    DTYPE_BYTES,
    OPTIMIZER_STATE_BYTES,
    QTYPES,
    QUANTIZED_WEIGHT_BYTES,
    GiB,
    MemorySettings,
    TrainShape,
)
from toolkit.memory.sizes import (
    AUDIO_VAE_PARAMS,
    CONNECTOR_PARAMS,
    TEXT_ENCODER_PARAMS,
    TRANSFORMER,
    VIDEO_VAE_PARAMS,
    VOCODER_PARAMS,
)

DEFAULT_SETTINGS = MemorySettings()

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


@dataclass
class Estimate:
    components: dict = field(default_factory=dict)  # name -> bytes on the compute device (backward peak)
    host: dict = field(default_factory=dict)  # name -> bytes resting in host memory (offloading levers)
    optimizer_step: float = 0.0  # bytes on the device while the optimizer steps

    @property
    def backward(self) -> float:
        return float(sum(self.components.values()))

    @property
    def total(self) -> float:
        """The step's peak on the device: the backward pass or the optimizer step, the larger."""
        return max(self.backward, self.optimizer_step)

    def table(self) -> str:
        rows = [f"  {name:<28} {value / GiB:8.2f} GiB" for name, value in self.components.items()]
        if self.optimizer_step > self.backward:
            rows.append(f"  {'optimizer step (all gradients)':<28} {self.optimizer_step / GiB:8.2f} GiB")
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
    # the Linear weights outside the blocks (the timestep, prompt and cross-modal modulation
    # embedders, entry and exit projections): with block swap they rest on the host too
    outside_linear_weights: int = 0


@functools.lru_cache(maxsize=32)
def _counts(config_key: str, network: str, rank: int) -> ParamCounts:
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
    outside_linear = sum(module.weight.numel() for name, module in one.named_modules()
                         if isinstance(module, torch.nn.Linear) and not name.startswith("transformer_blocks."))
    return ParamCounts(linear_w, block_total - linear_w, total_one - block_total, network_params, linears,
                       config["num_layers"], out_features, outside_linear)


def _key(config: dict) -> str:
    """A hashable form of a config (lists inside) for the caches."""
    return json.dumps(config, sort_keys=True)


def param_counts(config: dict, network: str = "lora", rank: int = 32) -> ParamCounts:
    return _counts(_key(config), network, rank)


def release_of(config: dict) -> str | None:
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
    release = release_of(config)
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


def block_bytes(config: dict, settings: MemorySettings) -> float:
    """One block's weights as they rest: the compute dtype, or quantized Linear weights of one
    byte plus one compute-dtype scale per output channel (biases, norms, tables unquantized)."""
    b = DTYPE_BYTES[settings.dtype]
    counts = param_counts(config, settings.network, settings.rank)
    if settings.qtype:
        linear = counts.block_linear_weights * QUANTIZED_WEIGHT_BYTES + counts.block_linear_out_features * b
    else:
        linear = counts.block_linear_weights * b
    return linear + counts.block_other * b


def offloaded_blocks(settings: MemorySettings, blocks: int) -> int:
    """Blocks whose weights rest in host memory (toolkit/memory/offload.py: offload_share)."""
    return min(blocks, max(0, round(settings.offload_percent * blocks))) if settings.offload_percent > 0 else 0


def outside_blocks_swapped(settings: MemorySettings, blocks: int) -> bool:
    """With every block swapped, the Linear layers outside the blocks rest on the host too
    (component_placement.py): they are the last unit block swap takes, as large as a block."""
    return 0 < offloaded_blocks(settings, blocks) == blocks


def network_params(config: dict, settings: MemorySettings) -> int:
    counts = param_counts(config, settings.network, settings.rank)
    blocks = settings.blocks if settings.blocks is not None else counts.layers
    return counts.network_per_block * blocks


# With lever (b), block inputs' worth on the device at the backward pass's peak. Counted: the
# first block's inputs (not a block's output, so they stay), the recomputed block's (fetched
# back) and the one before it (prefetched): 3. The 48-block trace of LTX-2.3 at 9216 + 125
# tokens holds 0.32-0.34 GiB more than that with (b) on, at 30% and 90% of the blocks swapped,
# with and without feed-forward chunks (docs/memory.md, "The full-size trace"), and the
# same as the count with (b) off: about five more block inputs' worth, not yet itemised. The
# plan counts what the trace holds.
OFFLOADED_CHECKPOINT_INPUTS = 8


def checkpoint_inputs_on_device(settings: MemorySettings, blocks: int) -> int:
    """Checkpointed blocks' inputs' worth on the device when backward recomputes the last
    block: all of them; with lever (b) OFFLOADED_CHECKPOINT_INPUTS (see there)."""
    if not settings.checkpointing:
        return 0
    return min(blocks, OFFLOADED_CHECKPOINT_INPUTS) if settings.offload_checkpoints else blocks


def backward_peak_parts(config: dict, shape: TrainShape, settings: MemorySettings, blocks: int) -> dict[str, float]:
    """What the backward pass holds beyond the step's own term, at its peak: when it
    recomputes the last block, every block's checkpointed inputs still on the device; when
    it recomputes the first, one block's and the adapter gradients (float32) of all the
    others, done by then, unless lever (d) took each to the host as it was finished. The
    larger of the two (the first without lever (b), the second with it and without (d): the
    inputs went to the host, the gradients stay)."""
    if not settings.checkpointing:
        return {}
    boundary = boundary_bytes(shape, DTYPE_BYTES[settings.dtype])
    first = checkpoint_inputs_on_device(settings, blocks) * boundary
    grads = 0 if settings.optimizer_offload else (
        (blocks - 1) * param_counts(config, settings.network, settings.rank).network_per_block * 4)
    if boundary + grads > first:
        return {"checkpointed block inputs": boundary, "adapter gradients (blocks done)": grads}
    return {"checkpointed block inputs": first}


def _measured_step(release: str | None, settings: MemorySettings,
                   offloaded: bool) -> tuple[BlockActivations | None, float, bool]:
    """(the calibrated step term, what feed-forward chunks save per video token past the chunk,
    whether the swapped block in hand must be added). A chunk size that was not measured takes
    the unchunked measurement less the measured per-token saving of chunks (plan/calibrate.py:
    chunk_saving_per_token). Settings measured only without block swap take that measurement
    plus the block the step computes with, which a swapped model fetches and holds through its
    backward pass (the swapped measurements include it). None: count the step by hand."""
    if release is None:
        return None, 0.0, False
    for measured_swapped in ((True, False) if offloaded else (False,)):
        measured, saving = lookup(release, settings, measured_swapped), 0.0
        if measured is None and settings.ff_chunk_tokens:
            per_token = chunk_saving_per_token(release, settings, measured_swapped)
            if per_token is not None:
                measured = lookup(release, replace(settings, ff_chunk_tokens=0), measured_swapped)
                saving = per_token
        if measured is not None:
            return measured, saving, offloaded and not measured_swapped
    return None, 0.0, False


def estimate(config: dict, shape: TrainShape, settings: MemorySettings = DEFAULT_SETTINGS) -> Estimate:
    """Bytes on the compute device at the peak of a training step (see the module docstring).

    `components` are the parts at the backward pass's peak; `optimizer_step` the total while
    the optimizer steps (every gradient exists then), and `total` the larger of the two."""
    if settings.qtype is not None and settings.qtype not in QTYPES:
        raise ValueError(f"unknown qtype '{settings.qtype}': use one of {', '.join(QTYPES)}")
    b = DTYPE_BYTES[settings.dtype]
    counts = param_counts(config, settings.network, settings.rank)
    blocks = settings.blocks if settings.blocks is not None else counts.layers
    per_block = block_bytes(config, settings)
    est = Estimate()
    offloaded = offloaded_blocks(settings, blocks)
    if offloaded:
        est.host["offloaded blocks"] = offloaded * per_block
        # the next block's weights, prefetched while one computes (a single offloaded block
        # has no neighbour to prefetch; its own layers' fetches are in the measured step term)
        est.components["offload buffers"] = per_block if offloaded > 1 else 0.0
    est.components["transformer blocks"] = (blocks - offloaded) * per_block
    if outside_blocks_swapped(settings, blocks):  # they rest with the blocks (offload.py)
        est.host["transformer (outside blocks)"] = counts.outside_linear_weights * b
        est.components["transformer (outside blocks)"] = (counts.outside_blocks - counts.outside_linear_weights) * b
    else:
        est.components["transformer (outside blocks)"] = counts.outside_blocks * b
    release = release_of(config)
    if release and (settings.connectors or settings.train_text_encoder):
        est.components["text connectors"] = CONNECTOR_PARAMS[release] * b
    if release and settings.text_encoder_on_device:
        est.components["text encoder (idle)"] = TEXT_ENCODER_PARAMS[release] * (
            QUANTIZED_WEIGHT_BYTES if settings.quantize_te else b)
    if release and settings.vaes_on_device:
        est.components["VAEs + vocoder (idle)"] = (VIDEO_VAE_PARAMS[release] + AUDIO_VAE_PARAMS[release]
                                                   + VOCODER_PARAMS[release]) * b
    n_net = counts.network_per_block * blocks
    state = 0 if settings.optimizer_offload else OPTIMIZER_STATE_BYTES.get(settings.optimizer, 8)
    if settings.optimizer_offload:
        est.host["optimizer (float32 weights, state, gradients)"] = n_net * (
            4 + OPTIMIZER_STATE_BYTES.get(settings.optimizer, 8) + 4)
    est.components["network + optimizer state"] = n_net * (4 + state)
    if settings.offload_checkpoints and settings.checkpointing and blocks > 1:
        est.host["checkpointed block inputs"] = (blocks - 1) * boundary_bytes(shape, b)
    measured, chunk_saving, in_hand = _measured_step(release, settings, offloaded > 0)
    if in_hand or (measured is None and offloaded):
        est.components["swapped block in hand"] = per_block
    if measured is not None:
        # the step's own extra, measured at real size on one block (plan/calibrate.py)
        est.components.update(backward_peak_parts(config, shape, settings, blocks))
        step = measured.bytes(shape.video_tokens * shape.batch, shape.audio_tokens * shape.batch)
        step -= chunk_saving * shape.batch * max(0, shape.video_tokens - settings.ff_chunk_tokens)
        if not settings.checkpointing:  # every other block keeps its full saved set too
            step += (blocks - 1) * _full_block(config, shape, settings)
        est.components["step (measured)"] = step
    else:
        _counted_step(est, config, shape, settings, blocks)
    if settings.cuda:
        est.components["CUDA context"] = CUDA_CONTEXT_BYTES
    resting = sum(v for k, v in est.components.items() if k not in STEP_PARTS)
    # every adapter gradient (float32) exists on the device while the optimizer steps, unless
    # lever (d) streamed them to the host (it steps there; publishing writes the weights in place)
    est.optimizer_step = resting + (0 if settings.optimizer_offload else n_net * 4)
    return est


# The parts of `Estimate.components` that exist only during the forward and backward passes.
STEP_PARTS = ("checkpointed block inputs", "adapter gradients (blocks done)", "step (measured)", "activations",
              "backward workspace", "offload buffers", "swapped block in hand")


def block_saved_bytes(config: dict, shape: TrainShape, settings: MemorySettings) -> float:
    """What one block keeps for backward at this shape (its whole saved set, no checkpointing)."""
    return _full_block(config, shape, settings)


def _full_block(config: dict, shape: TrainShape, settings: MemorySettings) -> float:
    acts = block_activations(config, settings.network, settings.rank, settings.dtype, settings.qtype)
    tv, ta = shape.video_tokens * shape.batch, shape.audio_tokens * shape.batch
    return acts.bytes(tv, ta) + acts.fixed * (shape.batch - 1)


def _counted_step(est: Estimate, config: dict, shape: TrainShape, settings: MemorySettings, blocks: int) -> None:
    """The step's activations and workspace counted by hand, for settings with no measured
    step term (a config other than the released ones, or levers not measured): the saved set
    of one block (activations.py) and the feed-forward's backward transients."""
    b = DTYPE_BYTES[settings.dtype]
    full_block = _full_block(config, shape, settings)
    tv, ta = shape.video_tokens * shape.batch, shape.audio_tokens * shape.batch
    video_dim = config["num_attention_heads"] * config["attention_head_dim"]
    audio_dim = config["audio_num_attention_heads"] * config["audio_attention_head_dim"]
    if settings.checkpointing:
        est.components.update(backward_peak_parts(config, shape, settings, blocks))
        est.components["activations"] = full_block
    else:
        est.components["activations"] = blocks * full_block
    # Backward transients, at their largest in the video feed-forward: the gradient of its
    # 4x-wide hidden layer exists at once as the adapter path's float32 gradient (4 bytes),
    # its cast back to the compute dtype (2), the frozen path's gradient (2) and their sum (2);
    # plus the gradients of the block's video and audio hidden states (float32, in and out).
    ffn = 4 * video_dim
    est.components["backward workspace"] = tv * ffn * (4 + 3 * b) + 2 * (tv * video_dim + ta * audio_dim) * 4

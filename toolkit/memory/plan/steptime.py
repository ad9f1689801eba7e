"""A step's cost on a named GPU, from the plan: bytes over the host link and an estimated time.

Bytes moved between host and device per step, by lever:
- (e) block swap: each offloaded block's weights (as they rest: quantized or not) cross twice:
  the forward pass and the checkpointed recomputation, after which the block stays on the
  device through its own backward pass (toolkit/memory/offload.py; without checkpointing the
  second crossing is the backward pass's);
- (b) checkpointed block inputs: out after each block's forward, back before its recomputation;
- (d) optimizer on the host: the float32 gradients out, the stepped float32 weights back.

Time: the FLOPs the step executes (a forward, the recomputation, and a backward that costs
one forward for the Linears, which compute input gradients only, and two for attention) plus,
with feed-forward chunking (c), one more forward of the feed-forwards, at ASSUMED_UTILISATION
of the GPU's dense bf16 peak; the transfers at LINK_EFFICIENCY of its host link. Transfers
run on a side stream, prefetched a block ahead, so the step takes the longer of the two. This
is an estimate for comparing settings and cards, not a measurement: `bench/real_size.py`
measures steps on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.memory.estimate import (
    DTYPE_BYTES,
    MemorySettings,
    TrainShape,
    block_bytes,
    network_params,
    offloaded_blocks,
    outside_blocks_swapped,
    param_counts,
)
from toolkit.memory.plan.calibrate import boundary_bytes
from toolkit.memory.plan.cards import Gpu
from toolkit.memory.sizes import AUDIO_DIM, VIDEO_DIM

ASSUMED_UTILISATION = 0.45  # of the dense bf16 peak, for a LoRA step at this size
LINK_EFFICIENCY = 0.8  # of the host link's one-direction bandwidth, pinned copies
# Linear parameters applied to each video / audio / text token in one block (flops.py counts
# them on the meta device; tests/test_memory_plan.py checks these against it).
LINEAR_PER_TOKEN = {"2.0": (268_435_456, 75_497_472, 41_943_040), "2.3": (268_828_672, 75_694_080, 41_943_040),
                    "2.5": (268_828_672, 75_694_080, 41_943_040)}
FF_PER_VIDEO_TOKEN = 2 * VIDEO_DIM * 4 * VIDEO_DIM  # the video feed-forward's two Linears
FF_PER_AUDIO_TOKEN = 2 * AUDIO_DIM * 4 * AUDIO_DIM


@dataclass(frozen=True)
class StepCost:
    link_bytes: float  # host <-> device, both directions together
    flops: float  # executed, not model FLOPs
    compute_s: float
    transfer_s: float

    @property
    def seconds(self) -> float:
        return max(self.compute_s, self.transfer_s)


def forward_flops(version: str, shape: TrainShape, blocks: int = 48) -> tuple[float, float, float]:
    """(linear, attention, feed-forward) FLOPs of one forward (flops.py's count, in closed form)."""
    tv, ta, text = shape.video_tokens * shape.batch, shape.audio_tokens * shape.batch, shape.text_tokens
    pv, pa, pt = LINEAR_PER_TOKEN[version]
    linear = 2 * (pv * tv + pa * ta + pt * text * shape.batch)
    attention = 4 * shape.batch * (VIDEO_DIM * (tv / shape.batch) ** 2 + AUDIO_DIM * (ta / shape.batch) ** 2
                                   + (VIDEO_DIM * tv + AUDIO_DIM * ta) / shape.batch * text
                                   + 2 * AUDIO_DIM * (tv / shape.batch) * (ta / shape.batch))
    ff = 2 * (FF_PER_VIDEO_TOKEN * tv + FF_PER_AUDIO_TOKEN * ta)
    return linear * blocks, attention * blocks, ff * blocks


def link_bytes(config: dict, shape: TrainShape, settings: MemorySettings) -> float:
    """Bytes over the host link in one step (see the module doc)."""
    counts = param_counts(config, settings.network, settings.rank)
    blocks = settings.blocks if settings.blocks is not None else counts.layers
    moved = 2 * offloaded_blocks(settings, blocks) * block_bytes(config, settings)
    if outside_blocks_swapped(settings, blocks):  # fetched once, in the forward pass
        moved += counts.outside_linear_weights * DTYPE_BYTES[settings.dtype]
    if settings.offload_checkpoints and settings.checkpointing and blocks > 1:
        moved += 2 * (blocks - 1) * boundary_bytes(shape, DTYPE_BYTES[settings.dtype])
    if settings.optimizer_offload:
        moved += 2 * 4 * network_params(config, settings)
    return float(moved)


def step_cost(version: str, config: dict, shape: TrainShape, settings: MemorySettings, gpu: Gpu) -> StepCost:
    blocks = settings.blocks if settings.blocks is not None else config["num_layers"]
    linear, attention, ff = forward_flops(version, shape, blocks)
    forwards = 2 if settings.checkpointing else 1
    executed = forwards * (linear + attention) + linear + 2 * attention
    if settings.ff_chunk_tokens:
        executed += ff  # each chunk's feed-forward runs again in backward
    moved = link_bytes(config, shape, settings)
    return StepCost(moved, executed, executed / (gpu.bf16_tflops * 1e12 * ASSUMED_UTILISATION),
                    moved / (gpu.link_gb_s * 1e9 * LINK_EFFICIENCY))

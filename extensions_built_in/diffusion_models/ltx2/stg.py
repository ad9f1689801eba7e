"""Spatio-temporal guidance (STG) in samples: which blocks, and making them perturbable.

STG runs the transformer a third time per step with the self-attention of a few blocks
skipped (each token keeps its own value projection) and pushes the sample away from that
weakened prediction, as the reference pipelines of every LTX-2 version do (scale 1.0 for video
and audio; block 29 in 2.0, block 28 in 2.3/2.5, from the version table).

Two things the diffusers classes leave to us:
- LTX-2.0's transformer is built with `perturbed_attn=False` (the STG processor has no weights,
  so the released config never needed it): its blocks then ignore the perturbation and the
  extra pass would cost a forward for nothing. `perturbable()` switches the STG blocks to the
  perturbation-aware processor for the duration of sampling; without a perturbation mask that
  processor computes exactly what the plain one does, so training is untouched either way.
- The table's block indices are for the released 48-block transformers. A transformer of
  another depth (the tiny test models) gets the same relative place, so the default still
  perturbs a block that exists rather than silently none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers.models.transformers.transformer_ltx2 import LTX2PerturbedAttnProcessor

# Depth of every released LTX-2 transformer, which the table's STG blocks are counted in.
RELEASED_DEPTH = 48


def stg_blocks(table_blocks: tuple[int, ...], num_layers: int) -> list[int]:
    """The version's STG blocks for a transformer of `num_layers` blocks."""
    if num_layers == RELEASED_DEPTH:
        return list(table_blocks)
    return sorted({min(num_layers - 1, block * num_layers // RELEASED_DEPTH) for block in table_blocks})


def _blocks(transformer: torch.nn.Module) -> torch.nn.ModuleList:
    inner = getattr(transformer, "_orig_mod", transformer)  # torch.compile keeps the module here
    return inner.transformer_blocks


def transformer_depth(transformer: torch.nn.Module) -> int:
    return len(_blocks(transformer))


@contextmanager
def perturbable(transformer: torch.nn.Module, blocks: list[int]) -> Iterator[None]:
    """Within the block, the STG `blocks` honour diffusers' perturbation mask (LTX-2.0 needs
    this; 2.3/2.5 blocks already do); restored afterwards."""
    changed = []
    all_blocks = _blocks(transformer)
    for index in blocks:
        block = all_blocks[index]
        if block.perturbed_attn:
            continue
        changed.append((block, block.attn1.get_processor(), block.audio_attn1.get_processor()))
        block.perturbed_attn = True
        block.attn1.set_processor(LTX2PerturbedAttnProcessor())
        block.audio_attn1.set_processor(LTX2PerturbedAttnProcessor())
    try:
        yield
    finally:
        for block, video_processor, audio_processor in changed:
            block.perturbed_attn = False
            block.attn1.set_processor(video_processor)
            block.audio_attn1.set_processor(audio_processor)

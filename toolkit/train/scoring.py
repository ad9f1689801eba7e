"""One modality's loss over the items a step scores, the same for one process and N.

A step may leave items unscored in one modality (an audio file's placeholder video, the
clean side of a directional item, the audio of a clip without voice). One process takes the
mean over the scored items of its batch. Under data parallel each rank holds a slice and
the gradients are averaged over the ranks, so a rank's plain mean would weigh an item by
how many scored items happened to land on its rank. When only some items of the global
batch are scored, each rank's loss is its scored items' sum scaled by (ranks / scored items
of the global batch), whose average over the ranks is the one-process mean exactly: N ranks
x batch b train like one process with batch N*b.

When every item of the global batch is scored (every joint step), the loss is the plain
mean, computed as it always was.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ScoredCounts:
    """Scored items of each modality: on this rank and in the whole global batch."""

    video: int
    audio: int
    global_video: int
    global_audio: int
    global_items: int
    world: int

    @classmethod
    def gather(cls, video_scored: torch.Tensor, audio_scored: torch.Tensor, dist) -> ScoredCounts:
        local = [int(video_scored.sum()), int(audio_scored.sum())]
        counted = dist.sum_ints(local) if dist.enabled else local  # one small collective per step
        return cls(local[0], local[1], counted[0], counted[1], int(video_scored.numel()) * dist.world_size,
                   dist.world_size)


def scored_loss(values: torch.Tensor, scored: torch.Tensor, local: int, global_scored: int, global_items: int,
                world: int) -> torch.Tensor | None:
    """This rank's loss of one modality from (B,) per-item `values`; None when this rank
    scores none of its items."""
    if global_scored == global_items:
        return values.mean()
    if local == 0:
        return None
    if world == 1:
        return values[scored.to(values.device)].mean()
    return values[scored.to(values.device)].sum() * (world / global_scored)

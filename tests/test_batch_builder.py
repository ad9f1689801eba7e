"""The batch builder's randomness is drawn for the global batch: N ranks see one process's draws."""

from __future__ import annotations

import torch

from toolkit.distributed import DistContext


def test_global_rows_split_one_process_draw_between_ranks():
    def draw(n, seed=11):
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(n, generator=generator)

    single = DistContext().global_rows(draw, 6)
    ranks = [DistContext(rank=r, world_size=3).global_rows(draw, 2) for r in range(3)]
    assert torch.equal(torch.cat(ranks), single)
    assert not torch.equal(ranks[0], ranks[1])  # each rank keeps its own rows, not the first ones

"""run.py with a NaN loss injected on rank 1 at its second micro-step (tests/test_distributed.py).

Each rank also writes the sum of its network parameters at the final save to
`$NAN_TEST_OUT/rank<N>.txt`, so the test can see that the ranks did not drift apart.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import toolkit  # noqa: E402,F401
from extensions_built_in.sd_trainer import SDTrainer as sd_trainer  # noqa: E402
from jobs.process import checkpointing  # noqa: E402

_compute = sd_trainer.SDTrainer.compute
_save = checkpointing.Checkpoints.save
_calls = {"n": 0}


def compute(self, batch):
    losses = _compute(self, batch)
    _calls["n"] += 1
    if self.rank == 1 and _calls["n"] == 2:
        losses.total = losses.total * float("nan")
    return losses


def save(self, final: bool = False):
    path = _save(self, final)
    if final:
        total = sum(float(p.detach().double().sum()) for p in self.state.network.parameters())
        Path(os.environ["NAN_TEST_OUT"], f"rank{self.state.dist.rank}.txt").write_text(repr(total))
    return path


sd_trainer.SDTrainer.compute = compute
checkpointing.Checkpoints.save = save

import run  # noqa: E402

sys.exit(run.main(sys.argv[1:]))

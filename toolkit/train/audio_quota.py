"""`train.audio_batch_min_ratio`: at least this share of batches carries items with voice.

A dataset of many stills and a few speaking clips can go long stretches without a batch
that has voice (users call it audio starvation). The quota looks at the batch the sampler
would give next: when it has no voice and the batches drawn so far would fall below the
share, a batch with voice from the current epoch's plan is trained instead, and the skipped
batch stays next in line (every item still trains each epoch; an epoch takes longer).

Deterministic: the stand-in is drawn from (seed, the count of batches drawn) and the two
counters are saved with the sampler's state, so a resume draws the same batches. Under data
parallel the sampler plans global batches, so every rank decides alike. A batch counts as
voiced when one of its items has real audio (a clip's voice or an audio file), whatever
else it holds.
"""

from __future__ import annotations

import math
import random

from toolkit.train.batching import BucketBatchSampler


def voiced(batch: list) -> bool:
    return any(item.has_audio for item in batch)


class AudioQuotaSampler:
    """A BucketBatchSampler with the audio quota on top (same interface)."""

    def __init__(self, sampler: BucketBatchSampler, min_ratio: float, seed: int):
        self.sampler = sampler
        self.min_ratio = float(min_ratio)
        self.seed = seed
        self.drawn = 0  # batches given out
        self.voiced = 0  # of those, with voice
        self.stand_ins = 0  # voiced batches given in place of the planned one

    @property
    def items(self) -> list:
        return self.sampler.items

    def next_batch(self) -> list:
        batch = self.sampler.peek()
        due = math.floor(self.min_ratio * (self.drawn + 1) + 1e-9)  # voiced batches owed after this one
        if voiced(batch) or self.voiced >= due:
            self.sampler.next_batch()
        else:
            choices = [b for b in self.sampler.epoch_batches() if voiced(b)]
            if choices:
                batch = random.Random(f"{self.seed}:quota:{self.drawn}").choice(choices)
                self.stand_ins += 1
            else:  # this epoch has no voiced batch (caught at start-up when none exists at all)
                self.sampler.next_batch()
        self.drawn += 1
        self.voiced += voiced(batch)
        return batch

    def state_dict(self) -> dict:
        return {**self.sampler.state_dict(), "quota_drawn": self.drawn, "quota_voiced": self.voiced,
                "quota_stand_ins": self.stand_ins}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)
        self.drawn = int(state.get("quota_drawn", 0))
        self.voiced = int(state.get("quota_voiced", 0))
        self.stand_ins = int(state.get("quota_stand_ins", 0))

"""Batch order over encoded items: shuffled per epoch, batches never mix buckets.

The order is a pure function of (seed, epoch), so a resumed run continues with exactly
the batches the uninterrupted run would have drawn (state = epoch and position). A clip
cached with several sets of window positions contributes one set per epoch, drawn from the
same (seed, epoch): its windows move between epochs.

Under data parallel the batches are global (batch_size x processes) and every rank takes its
slice; `fill_last` tops a bucket's short last batch up with items of the same bucket (from
its start, in shuffled order) so every rank gets a full slice and the averaged gradient
weighs every item alike.
"""

from __future__ import annotations

import random
from collections import defaultdict


class BucketBatchSampler:
    def __init__(self, items: list, batch_size: int, seed: int, fill_last: bool = False):
        self.items = items
        self.batch_size = batch_size
        self.seed = seed
        self.fill_last = fill_last
        self.epoch = 0
        self.position = 0
        self._batches = self._plan(self.epoch)

    def _plan(self, epoch: int) -> list[list[int]]:
        rng = random.Random(f"{self.seed}:{epoch}")
        buckets: dict = defaultdict(list)
        chosen: dict = {}
        for index, item in enumerate(self.items):
            if getattr(item, "variants", 1) > 1:  # a random set of window positions per clip and epoch
                if item.clip_key not in chosen:
                    chosen[item.clip_key] = random.Random(f"{self.seed}:{epoch}:{item.clip_key}").randrange(item.variants)
                if item.variant != chosen[item.clip_key]:
                    continue
            buckets[item.bucket_key()].append(index)
        batches = []
        for key in sorted(buckets, key=str):
            indices = buckets[key]
            rng.shuffle(indices)
            planned = [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
            if self.fill_last and len(planned[-1]) < self.batch_size:
                cycle = indices * (self.batch_size // len(indices) + 1)
                planned[-1] = planned[-1] + cycle[: self.batch_size - len(planned[-1])]
            batches += planned
        rng.shuffle(batches)
        return batches

    def next_batch(self) -> list:
        batch = self.peek()
        self.position += 1
        return batch

    def peek(self) -> list:
        """The items next_batch() returns next (moving to the next epoch's plan when this one is done)."""
        if self.position >= len(self._batches):
            self.epoch += 1
            self.position = 0
            self._batches = self._plan(self.epoch)
        return [self.items[i] for i in self._batches[self.position]]

    def epoch_batches(self) -> list[list]:
        """The items of every batch of the current epoch's plan."""
        return [[self.items[i] for i in batch] for batch in self._batches]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._batches = self._plan(self.epoch)

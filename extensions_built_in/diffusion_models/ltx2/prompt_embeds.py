"""The connectors' output for a batch of prompts: what the model's predict and the sampler read
(its own module: ltx2.py and generate.py both use it, and ltx2.py imports generate.py)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PromptEmbeds:
    """Connector outputs for a batch of prompts.

    video: (B, T, Dv), audio: (B, T, Da), mask: (B, T) float32 multiplicative (1 = token).
    """

    video: torch.Tensor
    audio: torch.Tensor
    mask: torch.Tensor

    def to(self, device) -> PromptEmbeds:
        return PromptEmbeds(self.video.to(device), self.audio.to(device), self.mask.to(device))

    @staticmethod
    def cat(items: list[PromptEmbeds]) -> PromptEmbeds:
        if len(items) == 1:  # batch size 1: no copy on the hot path
            return items[0]
        return PromptEmbeds(
            torch.cat([p.video for p in items]),
            torch.cat([p.audio for p in items]),
            torch.cat([p.mask for p in items]),
        )

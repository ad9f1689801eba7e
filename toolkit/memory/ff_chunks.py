"""Lever (c): feed-forward layers over token chunks, each chunk recomputed in backward.

A transformer block's feed-forward widens every token 4x (LTX-2: 4096 -> 16384 video
channels). Run over a whole 768x768x121 clip (9216 video tokens) its hidden layer is 288 MiB
in bf16, and autograd keeps it twice (the activation's input and output) plus, in the
backward pass, its gradient: the largest tensors of a step. Here the feed-forward runs over
`chunk_tokens` tokens at a time; with gradients on, each chunk is its own non-reentrant
checkpoint, so only the chunk's input is kept and the chunk's hidden layer exists again only
while that chunk's backward runs. The cost is one more feed-forward pass per step.

The same weights and the same per-token math: outputs match the unchunked layer, and weight
gradients differ only by the order in which the chunks' sums are added (float rounding).
With rank dropout (toolkit/lora/network.py) each chunk draws its own channel mask, at the same rate.

The module is replaced in place by a `ChunkedFeedForward` holding the same `net` children,
so parameter names (LoRA targets, files) do not change.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class ChunkedFeedForward(nn.Module):
    """diffusers' FeedForward (its `net` layers applied in turn) over token chunks."""

    def __init__(self, net: nn.ModuleList, chunk_tokens: int):
        super().__init__()
        self.net = net
        self.chunk_tokens = int(chunk_tokens)

    def _run(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for module in self.net:
            hidden_states = module(hidden_states)
        return hidden_states

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        tokens = hidden_states.shape[-2]
        if tokens <= self.chunk_tokens:
            return self._run(hidden_states)
        outputs = []
        for chunk in hidden_states.split(self.chunk_tokens, dim=-2):
            if torch.is_grad_enabled():
                outputs.append(checkpoint(self._run, chunk, use_reentrant=False))
            else:
                outputs.append(self._run(chunk))
        return torch.cat(outputs, dim=-2)

    def extra_repr(self) -> str:
        return f"chunk_tokens={self.chunk_tokens}"


def chunk_feed_forwards(blocks, chunk_tokens: int, names: tuple[str, ...] = ("ff", "audio_ff")) -> int:
    """Replace the feed-forward modules called `names` in each of `blocks`; returns how many."""
    if chunk_tokens <= 0:
        return 0
    count = 0
    for block in blocks:
        for name in names:
            ff = getattr(block, name, None)
            if ff is None or not isinstance(getattr(ff, "net", None), nn.ModuleList):
                continue
            setattr(block, name, ChunkedFeedForward(ff.net, chunk_tokens))
            count += 1
    return count

"""Forward FLOPs of the LTX-2 transformer for one training item, counted exactly on the meta device.

The forward runs on the meta device (shapes only: no memory, no arithmetic) under a
TorchFunctionMode that counts:
- every Linear: 2 * rows * in_features * out_features (+ rows * out_features for a bias
  is ignored, as usual);
- every attention: 4 * batch * heads * q_tokens * kv_tokens * head_dim (scores and the
  weighted sum).
Elementwise work (norms, modulation, RoPE, GELU) is left out; at LTX-2's width it is well
under 1% of the total. docs/memory.md writes the same count as a formula.

Model FLOPs of a LoRA training step = 2 x forward: the forward, and a backward that
computes input gradients only (the base is frozen; the adapters' own gradients are
negligible). Checkpointing's recomputation is overhead, not counted, as in the usual
model-FLOPs-utilisation definition.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import LTX2VideoTransformer3DModel
from torch.overrides import TorchFunctionMode

from toolkit.memory.activations import block_inputs


class _Counter(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.linear = 0
        self.attention = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear:
            x = args[0] if args else kwargs["input"]
            weight = args[1] if len(args) > 1 else kwargs["weight"]
            rows = x.numel() // x.shape[-1]
            self.linear += 2 * rows * weight.shape[0] * weight.shape[1]
        elif func is F.scaled_dot_product_attention:
            q = args[0] if args else kwargs["query"]
            k = args[1] if len(args) > 1 else kwargs["key"]
            *lead, lq, d = q.shape
            lkv = k.shape[-2]
            n = 1
            for size in lead:
                n *= size
            self.attention += 4 * n * lq * lkv * d
        return func(*args, **kwargs)


def forward_flops(config: dict, frames: int, height: int, width: int, audio_tokens: int,
                  text_tokens: int = 1024, batch: int = 1) -> dict:
    """{'linear': ..., 'attention': ..., 'total': ...} FLOPs of one forward of `config` at
    `frames x height x width` latent video tokens and `audio_tokens` audio latents."""
    # Blocks are identical: count a 1-block and a 2-block model, and scale the difference.
    one = _count(dict(config, num_layers=1), frames, height, width, audio_tokens, text_tokens, batch)
    two = _count(dict(config, num_layers=2), frames, height, width, audio_tokens, text_tokens, batch)
    layers = config["num_layers"]
    out = {k: one[k] + (two[k] - one[k]) * (layers - 1) for k in one}
    out["total"] = out["linear"] + out["attention"]
    out["per_block"] = (two["linear"] + two["attention"]) - (one["linear"] + one["attention"])
    return out


def _count(config: dict, frames, height, width, audio_tokens, text_tokens, batch) -> dict:
    with torch.device("meta"):
        model = LTX2VideoTransformer3DModel(**config)
    inputs = block_inputs(config, frames, height, width, audio_tokens, text_tokens, torch.bfloat16,
                          device="meta", batch=batch)
    model.to(torch.bfloat16)
    counter = _Counter()
    with torch.no_grad(), counter:
        model(**inputs)
    return {"linear": counter.linear, "attention": counter.attention}

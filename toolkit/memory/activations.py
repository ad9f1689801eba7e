"""What one transformer block keeps for the backward pass, per token: autograd's own accounting.

Activation memory depends on every op of an LTX-2 block and on how the LoRA wraps its
Linears (peft runs the adapter in float32, so each wrapped Linear keeps a float32 copy of
its input). Rather than a hand count that drifts with diffusers and peft versions, this
runs ONE block of the given config forward on the CPU with the network attached, at two
small token counts per modality, and sums the bytes of the tensors autograd saves
(`torch.autograd.graph.saved_tensors_hooks`, each storage once, parameters excluded).
Saved activations are linear in the token counts (attention kernels keep O(tokens) state:
output and log-sum-exp), so two sizes give a per-video-token, a per-audio-token and a
fixed (text-side) term that extrapolate to any clip.

Checkpointed blocks keep only their inputs; the block being recomputed keeps the full set
once (see estimate.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import LTX2VideoTransformer3DModel

from toolkit.lora.network import Network, NetworkSettings
from toolkit.memory.qtensor import inner_tensors
from toolkit.memory.quantize import quantize_model


@dataclass(frozen=True)
class BlockActivations:
    """Bytes one block saves for backward: `per_video_token * Tv + per_audio_token * Ta + fixed`."""

    per_video_token: float
    per_audio_token: float
    fixed: float

    def bytes(self, video_tokens: int, audio_tokens: int) -> float:
        return self.per_video_token * video_tokens + self.per_audio_token * audio_tokens + self.fixed


def block_inputs(config: dict, frames: int, height: int, width: int, audio_tokens: int, text_tokens: int,
                 dtype: torch.dtype, device="cpu", batch: int = 1, seed: int = 0) -> dict:
    """Keyword arguments of `LTX2VideoTransformer3DModel.forward` for one random training batch."""
    gen = torch.Generator().manual_seed(seed)
    video_tokens = frames * height * width
    video_text = config["caption_channels"] if config.get("use_prompt_embeddings", True) else config["cross_attention_dim"]
    audio_text = config["caption_channels"] if config.get("use_prompt_embeddings", True) else config["audio_cross_attention_dim"]
    sigma = torch.full((batch,), 500.0, device=device)
    mask = torch.ones(batch, text_tokens, device=device)

    def randn(*shape):
        return torch.randn(*shape, generator=gen).to(device, dtype)

    return dict(
        hidden_states=randn(batch, video_tokens, config["in_channels"]),
        audio_hidden_states=randn(batch, audio_tokens, config["audio_in_channels"]),
        encoder_hidden_states=randn(batch, text_tokens, video_text),
        audio_encoder_hidden_states=randn(batch, text_tokens, audio_text),
        timestep=sigma, audio_timestep=sigma, sigma=sigma, audio_sigma=sigma,
        encoder_attention_mask=mask, audio_encoder_attention_mask=mask,
        num_frames=frames, height=height, width=width, fps=24.0, audio_num_frames=audio_tokens,
        use_cross_timestep=not config.get("use_prompt_embeddings", True), return_dict=False,
    )


def build_transformer(config: dict, dtype: torch.dtype, network: str | None = "lora", rank: int = 32,
                      device="cpu", seed: int = 0):
    """The diffusers transformer of `config` with random weights, frozen, with the trainer's network on it."""
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in its dtype: no float32 copy of a real-size model
    try:
        with torch.device(device):
            transformer = LTX2VideoTransformer3DModel(**config)
    finally:
        torch.set_default_dtype(previous)
    transformer.to(dtype)
    transformer.requires_grad_(False)
    if network is not None:  # None: the caller quantizes/offloads first, then attaches it (as a run does)
        Network(transformer, NetworkSettings(type=network, rank=rank, alpha=rank), device=torch.device(device))
    transformer.train()
    return transformer


def saved_bytes(transformer, inputs: dict) -> int:
    """Bytes of the tensors autograd saves in one forward (each storage once, parameters excluded)."""
    def storages(tensor):
        # quantized weights (quanto, torchao) are wrapper tensors: count their inner tensors
        return [inner.untyped_storage() for inner in inner_tensors(tensor)]

    skip = {s.data_ptr() for t in list(transformer.parameters()) + list(transformer.buffers()) for s in storages(t)}
    seen: dict[int, int] = {}

    def pack(tensor):
        for storage in storages(tensor):
            ptr = storage.data_ptr()
            if ptr not in skip:
                seen[ptr] = max(seen.get(ptr, 0), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = transformer(**inputs)
    del out
    return sum(seen.values())


def trace_block(config: dict, dtype: torch.dtype = torch.bfloat16, network: str = "lora", rank: int = 32,
                text_tokens: int = 1024, qtype: str | None = None) -> BlockActivations:
    """Per-token activation bytes of one block of `config` (built here with one layer, on the CPU),
    its Linears quantized to `qtype` first when given (as a run does: quantize, then the network)."""
    one = dict(config, num_layers=1)
    # The start-up estimate traces a block before the run's model loads: building it draws
    # initial weights from torch's global generator, which the run has just seeded. Forked,
    # the run's random stream (adapter init, noise) is the same with or without this trace.
    with torch.random.fork_rng(devices=[]):
        transformer = build_transformer(one, dtype, None, rank)
        if qtype:
            quantize_model(transformer, qtype, include=("transformer_blocks.",))
        Network(transformer, NetworkSettings(type=network, rank=rank, alpha=rank), device=torch.device("cpu"))
        grids = {"base": (2, 4, 4, 16), "video": (4, 4, 4, 16), "audio": (2, 4, 4, 48)}
        sizes = {}
        for key, (f, h, w, a) in grids.items():
            sizes[key] = saved_bytes(transformer, block_inputs(one, f, h, w, a, text_tokens, dtype))
    per_video = (sizes["video"] - sizes["base"]) / (2 * 4 * 4)
    per_audio = (sizes["audio"] - sizes["base"]) / 32
    fixed = sizes["base"] - per_video * 32 - per_audio * 16
    return BlockActivations(per_video, per_audio, max(fixed, 0.0))

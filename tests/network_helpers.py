"""Helpers for the network, quantization and offloading tests: the tiny transformer, fixed
inputs for one joint forward pass, and adapter bookkeeping."""

from __future__ import annotations

import torch
from peft.tuners.tuners_utils import BaseTunerLayer

QTYPES = [None, "qfloat8", "qint8", "torchao_int8", "torchao_float8"]
NETWORK_TYPES = ["lora", "dora", "lokr"]


def load_transformer(model_dir, dtype=torch.float32):
    from diffusers import LTX2VideoTransformer3DModel

    transformer = LTX2VideoTransformer3DModel.from_pretrained(str(model_dir), subfolder="transformer", torch_dtype=dtype)
    transformer.requires_grad_(False)
    return transformer


def transformer_inputs(dtype, batch: int = 1, video_tokens=(2, 2, 2), audio_tokens: int = 10, text_tokens: int = 6,
                       seed: int = 0) -> dict:
    """Keyword arguments for one forward pass of the tiny transformer (hidden sizes 32)."""
    gen = torch.Generator().manual_seed(seed)
    frames, height, width = video_tokens

    def rand(*shape):
        return torch.randn(*shape, generator=gen).to(dtype)

    mask = torch.ones(batch, text_tokens)
    mask[:, : text_tokens // 3] = 0  # left padding
    sigma_v, sigma_a = torch.full((batch,), 500.0), torch.full((batch,), 300.0)
    return dict(
        hidden_states=rand(batch, frames * height * width, 32),
        audio_hidden_states=rand(batch, audio_tokens, 32),
        encoder_hidden_states=rand(batch, text_tokens, 32),
        audio_encoder_hidden_states=rand(batch, text_tokens, 32),
        timestep=sigma_v, audio_timestep=sigma_a, sigma=sigma_v, audio_sigma=sigma_a,
        encoder_attention_mask=mask, audio_encoder_attention_mask=mask.clone(),
        num_frames=frames, height=height, width=width, fps=24.0, audio_num_frames=audio_tokens,
        return_dict=False,
    )


def step_loss(transformer, inputs: dict) -> torch.Tensor:
    video, audio = transformer(**inputs)
    return video.float().square().mean() + audio.float().square().mean()


def tuner_layers(model) -> dict:
    return {name: m for name, m in model.named_modules() if isinstance(m, BaseTunerLayer)}


def adapter_parameters(model) -> dict:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def perturb_adapters(model, scale: float = 0.05, seed: int = 1) -> None:
    """Move every adapter weight off its initial value (lora_B and LoKr w1 start at zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(adapter_parameters(model).items()):
            param.add_(torch.randn(param.shape, generator=gen) * scale)

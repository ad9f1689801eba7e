"""ComfyUI key format: our names are the ones diffusers' own converter maps back."""

from __future__ import annotations

import torch

from extensions_built_in.diffusion_models.ltx2.lora_format.lora_keys import (
    COMFY_PREFIX,
    diffusers_to_original,
    to_comfy_key,
)
from extensions_built_in.diffusion_models.ltx2.lora_format.lora_read import from_comfy_state_dict


def test_every_transformer_module_round_trips_through_diffusers_converter(tiny_model_dir):
    from diffusers import LTX2VideoTransformer3DModel

    transformer = LTX2VideoTransformer3DModel.from_pretrained(str(tiny_model_dir), subfolder="transformer")
    names = [n for n, _ in transformer.named_modules() if n]
    state = {to_comfy_key(f"{n}.lora_A.weight"): torch.zeros(1) for n in names}
    back = from_comfy_state_dict(state)
    assert set(back) == {f"transformer.{n}.lora_A.weight" for n in names}


def test_connector_keys_round_trip_through_diffusers_converter(tiny_model_dir):
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    connectors = LTX2TextConnectors.from_pretrained(str(tiny_model_dir), subfolder="connectors")
    names = [n for n, m in connectors.named_modules() if isinstance(m, torch.nn.Linear)]
    keys = [to_comfy_key(f"connectors.{n}.lora_B.weight") for n in names]
    assert "text_embedding_projection.aggregate_embed.lora_B.weight" in keys
    back = from_comfy_state_dict({k: torch.zeros(1) for k in keys})
    assert set(back) == {f"connectors.{n}.lora_B.weight" for n in names}


def test_known_original_names():
    assert diffusers_to_original("time_embed.linear") == "adaln_single.linear"
    assert diffusers_to_original("audio_time_embed.linear") == "audio_adaln_single.linear"
    assert diffusers_to_original("proj_in") == "patchify_proj"
    assert diffusers_to_original("audio_proj_in") == "audio_patchify_proj"
    assert diffusers_to_original("transformer_blocks.3.attn1.norm_q") == "transformer_blocks.3.attn1.q_norm"
    assert diffusers_to_original("transformer_blocks.0.attn1.to_out.0") == "transformer_blocks.0.attn1.to_out.0"
    key = to_comfy_key("transformer_blocks.0.audio_attn1.to_q.lora_B.weight")
    assert key == COMFY_PREFIX + "transformer_blocks.0.audio_attn1.to_q.lora_B.weight"

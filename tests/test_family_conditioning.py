"""Conditioning per version on the tiny models: the a/v cross-attention modulation follows the
Lightricks reference (scale/shift from a modality's own per-token timesteps, gate from the
other modality's sigma), checked against a hand computation with the model's own embedders;
2.5 marks the first latent frame with the keyframe embedding; Gemma 4 prompts start with BOS."""

from __future__ import annotations

import pytest
import torch

from extensions_built_in.diffusion_models.ltx2.conditioning import install_conditioning
from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS


def _transformer(model_dir):
    from diffusers import LTX2VideoTransformer3DModel

    return LTX2VideoTransformer3DModel.from_pretrained(str(model_dir), subfolder="transformer").eval()


def _inputs(batch=2, frames=2, height=2, width=2, audio_tokens=5):
    gen = torch.Generator().manual_seed(0)
    tokens = frames * height * width
    sigma_v = torch.tensor([700.0, 300.0])
    sigma_a = torch.tensor([200.0, 900.0])
    # i2v-style per-token video timesteps: latent frame 0 is a clean condition (t = 0)
    per_token = sigma_v[:, None].repeat(1, tokens)
    per_token[:, : height * width] = 0.0
    return dict(
        hidden_states=torch.randn(batch, tokens, 32, generator=gen),
        audio_hidden_states=torch.randn(batch, audio_tokens, 32, generator=gen),
        encoder_hidden_states=torch.randn(batch, 6, 32, generator=gen),
        audio_encoder_hidden_states=torch.randn(batch, 6, 32, generator=gen),
        timestep=per_token, audio_timestep=sigma_a, sigma=sigma_v, audio_sigma=sigma_a,
        num_frames=frames, height=height, width=width, fps=24.0, audio_num_frames=audio_tokens,
        return_dict=False,
    )


def _block_inputs(transformer, inputs):
    """What the first block receives as its a/v cross-attention modulation."""
    seen = {}

    def grab(module, args, kwargs):
        for name in ("temb_ca_scale_shift", "temb_ca_gate", "temb_ca_audio_scale_shift", "temb_ca_audio_gate"):
            seen[name] = kwargs[name].detach().clone()

    handle = transformer.transformer_blocks[0].register_forward_pre_hook(grab, with_kwargs=True)
    with torch.no_grad():
        out = transformer(**inputs)
    handle.remove()
    return seen, out


def _embed(module, t, batch):
    with torch.no_grad():
        value, _ = module(t.flatten(), batch_size=batch, hidden_dtype=torch.float32)
    return value.view(batch, -1, value.shape[-1])


def test_reference_routing_matches_the_hand_computation(tiny_version_dir):
    transformer = _transformer(tiny_version_dir("2.3"))
    install_conditioning(transformer, VERSIONS["ltx2.3"].cross_timestep_routing, False)
    inputs = _inputs()
    seen, ours = _block_inputs(transformer, inputs)
    b = 2
    # By hand, with the model's own embedders: scale/shift from the modality's own per-token
    # timesteps, gate from the other modality's sigma.
    expected = {
        "temb_ca_scale_shift": _embed(transformer.av_cross_attn_video_scale_shift, inputs["timestep"], b),
        "temb_ca_gate": _embed(transformer.av_cross_attn_video_a2v_gate, inputs["audio_sigma"], b),
        "temb_ca_audio_scale_shift": _embed(transformer.av_cross_attn_audio_scale_shift, inputs["audio_timestep"], b),
        "temb_ca_audio_gate": _embed(transformer.av_cross_attn_audio_v2a_gate, inputs["sigma"], b),
    }
    for name, value in expected.items():
        assert seen[name].shape == value.shape, name
        assert torch.allclose(seen[name], value, atol=1e-6), name
    # The case discriminates: diffusers' two modes feed other values, and give other outputs.
    assert not torch.allclose(expected["temb_ca_scale_shift"][:, :1],
                              _embed(transformer.av_cross_attn_video_scale_shift, inputs["audio_sigma"], b))
    for routing in ("cross", "own"):
        install_conditioning(transformer, routing, False)
        _, other = _block_inputs(transformer, inputs)
        assert (other[0] - ours[0]).abs().max() > 1e-4 and (other[1] - ours[1]).abs().max() > 1e-4, routing


def test_legacy_2_0_routing_uses_own_timesteps(tiny_version_dir):
    transformer = _transformer(tiny_version_dir("2.0"))
    install_conditioning(transformer, VERSIONS["ltx2"].cross_timestep_routing, False)
    inputs = _inputs()
    seen, _ = _block_inputs(transformer, inputs)
    gate = _embed(transformer.av_cross_attn_video_a2v_gate, inputs["timestep"], 2)
    assert torch.allclose(seen["temb_ca_gate"], gate, atol=1e-6)


def test_2_5_marks_the_first_latent_frame_with_the_keyframe_embedding(tiny_version_dir):
    transformer = _transformer(tiny_version_dir("2.5"))
    with torch.no_grad():  # the tiny model starts at zero, which would hide the effect
        transformer.keyframes_abs_pos_embedding.normal_()
    inputs = _inputs()
    mask = torch.zeros(2, 8, 1)
    mask[:, :4] = 1  # latent frame 0 = the first height*width tokens (frame-major packing)
    install_conditioning(transformer, "reference", VERSIONS["ltx2.5"].keyframe_first_frame)
    with torch.no_grad():
        ours = transformer(**inputs)
    install_conditioning(transformer, "reference", False)  # same routing, no automatic mark
    with torch.no_grad():
        by_hand = transformer(**inputs, video_keyframes_mask=mask)
        unmarked = transformer(**inputs)
    assert torch.allclose(ours[0], by_hand[0], atol=1e-6)
    assert (ours[0] - unmarked[0]).abs().max() > 1e-3


@pytest.mark.parametrize("version,bos_first", [("2.5", True), ("2.3", False)])
def test_gemma4_prompts_start_with_bos(version, bos_first, tiny_version_dir):
    from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings

    arch = {"2.3": "ltx2.3", "2.5": "ltx2.5"}[version]
    model = LTX2Model.load(str(tiny_version_dir(version)), LTX2Settings(version=VERSIONS[arch], gradient_checkpointing=False))
    ids, mask = model.tokenize(["a red circle", "hello"])
    assert ids.shape == (2, 128) and model.text_max_length % 128 == 0
    bos = model.tokenizer.bos_token_id
    for row in range(2):
        first = ids[row, 128 - int(mask[row].sum())]
        assert (int(first) == bos) == bos_first
    embeds = model.encode_prompts(["a red circle"])
    assert embeds.video.shape[-1] == 32 and embeds.audio.shape[-1] == 32

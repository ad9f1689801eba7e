"""Tiny random LTX-2.0 / 2.3 / 2.5 component sets built from the real diffusers classes.

Sizes follow the minimal configs confirmed on CPU for each version (transformer 2 heads x 8,
audio 2 heads x 4, 2 layers; connectors with 4 registers; 2.3/2.5-style video decoder with
its fourth up block; BWE vocoder for 2.3/2.5; a Gemma 4 text model for the 2.5 text-encoder
file). Kept in the tests: extensions_built_in.diffusion_models.ltx2.tiny_model builds the model the trainer runs on.
"""

from __future__ import annotations

VERSIONS = ("2.0", "2.3", "2.5")


def _transformer(version: str):
    from diffusers import LTX2VideoTransformer3DModel

    kwargs = dict(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16,
        audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2, audio_attention_head_dim=4,
        audio_cross_attention_dim=8, num_layers=2, caption_channels=16, rope_type="split",
        rope_double_precision=True, timestep_scale_multiplier=1000, cross_attn_timestep_scale_multiplier=1000,
    )
    if version == "2.0":
        kwargs.update(use_prompt_embeddings=True, gated_attn=False, cross_attn_mod=False,
                      audio_gated_attn=False, audio_cross_attn_mod=False, perturbed_attn=False)
    else:
        kwargs.update(use_prompt_embeddings=False, gated_attn=True, cross_attn_mod=True,
                      audio_gated_attn=True, audio_cross_attn_mod=True, perturbed_attn=True)
    if version == "2.5":
        kwargs.update(ff_bias=False, use_keyframes_abs_pos_embedding=True)
    return LTX2VideoTransformer3DModel(**kwargs)


def _connectors(version: str):
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    kwargs = dict(
        caption_channels=16, text_proj_in_factor=3, video_connector_num_layers=1,
        audio_connector_num_layers=1, video_connector_num_learnable_registers=4,
        audio_connector_num_learnable_registers=4, connector_rope_base_seq_len=32, rope_type="split",
        video_connector_num_attention_heads=2, video_connector_attention_head_dim=8,
    )
    if version == "2.0":
        kwargs.update(audio_connector_num_attention_heads=2, audio_connector_attention_head_dim=8,
                      per_modality_projections=False, proj_bias=False)
    else:
        kwargs.update(audio_connector_num_attention_heads=2, audio_connector_attention_head_dim=4,
                      video_gated_attn=True, audio_gated_attn=True, per_modality_projections=True,
                      video_hidden_dim=16, audio_hidden_dim=8, proj_bias=True)
    return LTX2TextConnectors(**kwargs)


def _video_vae(version: str):
    from diffusers import AutoencoderKLLTX2Video

    common = dict(
        latent_channels=8, patch_size=4, block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        down_block_types=("LTX2VideoDownBlock3D",) * 4,
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        spatio_temporal_scaling=(True, True, True, True), spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    )
    if version == "2.0":
        return AutoencoderKLLTX2Video(
            **common, decoder_block_out_channels=(16, 32, 64), decoder_layers_per_block=(1, 1, 1, 1),
            decoder_spatio_temporal_scaling=(True, True, True), decoder_inject_noise=(False,) * 4,
            upsample_type=("spatiotemporal",) * 3, upsample_factor=(2, 2, 2), upsample_residual=(True,) * 3,
            timestep_conditioning=False,
        ).eval()
    # timestep conditioning on here, so the decoder's time embedders and last scale-shift table
    # (original last_time_embedder / last_scale_shift_table) take part in the round trip
    return AutoencoderKLLTX2Video(
        **common, decoder_block_out_channels=(8, 16, 16, 32), decoder_layers_per_block=(1, 1, 1, 1, 1),
        decoder_spatio_temporal_scaling=(True, True, True, True), decoder_inject_noise=(False,) * 5,
        upsample_type=("spatiotemporal", "spatiotemporal", "temporal", "spatial"), upsample_factor=(2, 2, 1, 2),
        upsample_residual=(False,) * 4, timestep_conditioning=True,
    ).eval()


def _audio_vae():
    from diffusers import AutoencoderKLLTX2Audio

    return AutoencoderKLLTX2Audio(
        base_channels=8, latent_channels=8, mel_bins=16, ch_mult=(1, 1, 1), num_res_blocks=1,
        norm_type="pixel", causality_axis="height", is_causal=True,
    ).eval()


def _vocoder(version: str):
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder, LTX2VocoderWithBWE

    if version == "2.0":
        return LTX2Vocoder(in_channels=16, hidden_channels=32).eval()
    return LTX2VocoderWithBWE(in_channels=16, hidden_channels=64, bwe_in_channels=16, bwe_hidden_channels=32,
                              num_mel_channels=8).eval()


def gemma4_config() -> dict:
    """The `gemma_config` a 2.5 text-encoder file carries (a Gemma 4 unified config, text part set)."""
    return {
        "model_type": "gemma4_unified",
        "text_config": dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=1, head_dim=8, global_head_dim=8,
                            sliding_window=4, layer_types=["sliding_attention", "full_attention"]),
    }


def tokenizer_files() -> dict[str, bytes]:
    """tokenizer.json and tokenizer_config.json of a tiny word-level tokenizer (what the 2.5 file embeds)."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<pad>", "<eos>", "<bos>", "<unk>"] + "a man says hello world in the red room".split()
    core = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>", "eos_token": "<eos>",
              "bos_token": "<bos>", "unk_token": "<unk>", "padding_side": "left", "model_max_length": 64}
    return {"tokenizer.json": core.to_str().encode(), "tokenizer_config.json": json.dumps(config).encode()}


def text_encoder_25():
    from transformers.models.gemma4_unified.configuration_gemma4_unified import Gemma4UnifiedTextConfig
    from transformers.models.gemma4_unified.modeling_gemma4_unified import Gemma4UnifiedTextModel

    return Gemma4UnifiedTextModel(Gemma4UnifiedTextConfig(**gemma4_config()["text_config"])).eval()


def build_family(version: str, seed: int = 0) -> dict:
    """component name -> module, with every weight random (biases and tables included)."""
    import torch

    torch.manual_seed(seed)
    parts = {
        "transformer": _transformer(version),
        "connectors": _connectors(version),
        "vae": _video_vae(version),
        "audio_vae": _audio_vae(),
        "vocoder": _vocoder(version),
    }
    if version == "2.5":
        parts["text_encoder"] = text_encoder_25()
    # Several tensors start as zeros/ones (tables, statistics, registers): randomise them all so
    # a swapped or dropped key cannot hide behind equal initial values.
    with torch.no_grad():
        for module in parts.values():
            for tensor in module.state_dict().values():  # persistent tensors only, shared storage
                if tensor.is_floating_point():
                    tensor.copy_(torch.randn_like(tensor) * 0.1)
    return parts


def forward_outputs(component: str, module, version: str) -> list:
    """Outputs of one forward call of a tiny component on fixed inputs (to compare two copies)."""
    import torch

    g = torch.Generator().manual_seed(1)

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    with torch.no_grad():
        if component == "transformer":
            t = torch.tensor([300.0, 700.0])
            kwargs = dict(
                hidden_states=rand(2, 32, 4), audio_hidden_states=rand(2, 9, 4),
                encoder_hidden_states=rand(2, 8, 16),
                audio_encoder_hidden_states=rand(2, 8, 16 if version == "2.0" else 8),
                timestep=t, num_frames=2, height=4, width=4, audio_num_frames=9, return_dict=False)
            if version != "2.0":
                kwargs.update(sigma=t, use_cross_timestep=True)
            if version == "2.5":
                mask = torch.zeros(2, 32, 1)
                mask[:, :16] = 1.0  # first latent frame marked as keyframe
                kwargs["video_keyframes_mask"] = mask
            return list(module(**kwargs))
        if component == "connectors":
            mask = torch.ones(2, 8, dtype=torch.long)
            mask[0, :3] = 0  # left padding
            return list(module(rand(2, 8, 48), mask))
        if component == "vae":
            latent = module.encode(rand(1, 3, 9, 64, 64)).latent_dist.mode()
            temb = torch.tensor([0.05]) if module.config.timestep_conditioning else None
            return [latent, module.decode(latent, temb=temb, return_dict=False)[0]]
        if component == "audio_vae":
            latent = module.encode(rand(1, 2, 16, 16)).latent_dist.mode()
            return [latent, module.decode(latent, return_dict=False)[0]]
        if component == "vocoder":
            return [module(rand(1, 2, 4, 8))]
        if component == "text_encoder":
            out = module(input_ids=torch.tensor([[2, 4, 5, 6, 7]]), output_hidden_states=True)
            return list(out.hidden_states)
    raise ValueError(component)

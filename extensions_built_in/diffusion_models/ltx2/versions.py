"""The LTX-2 family table: everything that differs between LTX-2.0, 2.3 and 2.5.

One diffusers class family serves all three versions; they differ only by configuration,
by the text encoder and vocoder classes, by how the transformer is called, and by their
sampling defaults. Each version is one `LTX2Version` entry in `VERSIONS`, keyed by the
`model.arch` names ai-toolkit uses. Adding the next version is one entry here (plus any
truly new code it needs).

The `*_config` dicts are the REAL diffusers constructor arguments of each component (the
ones that differ from the class defaults are spelled out; every other argument is the class
default, which is the real value). Loaders that read weights from files without a config
(original single-file checkpoints, ComfyUI split files) build the components from them;
`tests/test_versions.py` checks them against the real parameter counts on the meta device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# How the audio<->video cross-attention modulation is fed (see docs/models.md):
# - "own": scale/shift and gate of each modality from its own (per-token) timesteps
#   (LTX-2.0 as trained; diffusers `use_cross_timestep=False`);
# - "reference": scale/shift from the modality's own per-token timesteps, gate from the
#   OTHER modality's sigma, as the Lightricks reference (ltx-core) defines it today;
# - "cross": both from the other modality's sigma (diffusers 0.42.1 `use_cross_timestep=True`,
#   the 2026-03 reference); kept selectable through model.model_kwargs.cross_timestep_routing.
CROSS_TIMESTEP_ROUTINGS = ("own", "reference", "cross")

_TRANSFORMER_COMMON = {"rope_type": "split"}  # the class default "interleaved" is wrong for every release

_TRANSFORMER_23 = {
    **_TRANSFORMER_COMMON,
    "use_prompt_embeddings": False,  # the caption projection moved into the connectors
    "gated_attn": True,
    "audio_gated_attn": True,
    "cross_attn_mod": True,
    "audio_cross_attn_mod": True,
    "perturbed_attn": True,
}

_CONNECTORS_20 = {
    "caption_channels": 3840,
    "text_proj_in_factor": 49,  # Gemma 12B: 48 layers + embeddings
    "video_connector_num_attention_heads": 30,
    "video_connector_attention_head_dim": 128,
    "video_connector_num_layers": 2,
    "audio_connector_num_attention_heads": 30,
    "audio_connector_attention_head_dim": 128,
    "audio_connector_num_layers": 2,
    "rope_type": "split",
}

_CONNECTORS_23 = {
    "caption_channels": 3840,
    "text_proj_in_factor": 49,
    "video_connector_num_attention_heads": 32,
    "video_connector_attention_head_dim": 128,
    "video_connector_num_layers": 8,
    "video_gated_attn": True,
    "audio_connector_num_attention_heads": 32,
    "audio_connector_attention_head_dim": 64,
    "audio_connector_num_layers": 8,
    "audio_gated_attn": True,
    "rope_type": "split",
    "per_modality_projections": True,
    "video_hidden_dim": 4096,
    "audio_hidden_dim": 2048,
    "proj_bias": True,
}

_VAE_20 = {"decoder_causal": False, "spatial_compression_ratio": 32, "temporal_compression_ratio": 8}

_VAE_23 = {
    "block_out_channels": (256, 512, 1024, 1024),
    "layers_per_block": (4, 6, 4, 2, 2),
    "decoder_block_out_channels": (256, 512, 512, 1024),
    "decoder_layers_per_block": (4, 6, 4, 2, 2),
    "decoder_spatio_temporal_scaling": (True, True, True, True),
    "decoder_inject_noise": (False, False, False, False, False),
    "upsample_type": ("spatiotemporal", "spatiotemporal", "temporal", "spatial"),
    "upsample_residual": (False, False, False, False),
    "upsample_factor": (2, 2, 1, 2),
    "decoder_causal": False,
    "decoder_spatial_padding_mode": "zeros",
    "spatial_compression_ratio": 32,
    "temporal_compression_ratio": 8,
}

_AUDIO_VAE = {}  # the class defaults are the real config of every version

# The flow-matching scheduler of every release (the diffusers repos' scheduler_config.json;
# ai-toolkit builds its scheduler from these values too). Used when the weights come from
# original files, which carry no scheduler.
SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "use_dynamic_shifting": True,
    "base_shift": 0.95,
    "max_shift": 2.05,
    "base_image_seq_len": 1024,
    "max_image_seq_len": 4096,
    "invert_sigmas": False,
    "shift_terminal": 0.1,
    "time_shift_type": "exponential",
}

# Config defaults that differ per version, resolved when a config is validated for its
# arch (toolkit/configuration/model_defaults.py reads them; a key the user wrote always wins).
_DEFAULTS_SHARED = {
    "network.linear": 32,
    "network.linear_alpha": 32.0,
    "network.rank_dropout": 0.1,
    "train.lr": 7.5e-5,
    "train.auto_balance_audio_loss": True,
    "train.independent_audio_timestep": True,
    "train.noise_offset": 0.05,
    "train.min_snr_gamma": 0.0,
}


# The reference STG scale of every version (video and audio); 0 switches STG off.
_STG_DEFAULTS = {"sample.stg_scale": 1.0, "sample.audio_stg_scale": 1.0}


@dataclass(frozen=True)
class LTX2Version:
    """What one LTX-2 version needs, in one place."""

    arch: str  # model.arch (ai-toolkit's name)
    number: str  # "2.0", "2.3", "2.5": recorded in LoRA files
    label: str  # what the UI shows
    hub_id: str  # the diffusers-format repository
    transformer_config: dict[str, Any]
    connectors_config: dict[str, Any]
    vae_config: dict[str, Any]
    audio_vae_config: dict[str, Any]
    vocoder_class: str  # in diffusers.pipelines.ltx2.vocoder
    vocoder_config: dict[str, Any]
    text_encoder_class: str  # in transformers
    # Gemma 4's packed tokenizer adds no BOS; the model was trained with one (LX fixed this).
    text_leading_bos: bool
    cross_timestep_routing: str
    # 2.5: mark the first latent frame's tokens (a single pixel frame, causal VAE) with
    # keyframes_abs_pos_embedding, as the reference inference does on every generation.
    keyframe_first_frame: bool
    # Caches: latents from different spaces must never be mixed.
    video_latent_space: str
    # Sampling defaults (reference pipeline parameters).
    sample_steps: int
    guidance_scale: float
    audio_guidance_scale: float
    stg_blocks: tuple[int, ...]
    audio_sample_rate: int  # vocoder output

    @property
    def config_defaults(self) -> dict[str, Any]:
        """Config keys this version fills in when a config leaves them out (at validation,
        toolkit/configuration/model_defaults.py): the SOP's shared defaults and this entry's sampling values."""
        return {**_DEFAULTS_SHARED, "sample.sample_steps": self.sample_steps,
                "sample.guidance_scale": self.guidance_scale,
                "sample.audio_guidance_scale": self.audio_guidance_scale, **_STG_DEFAULTS}


VERSIONS: dict[str, LTX2Version] = {
    "ltx2": LTX2Version(
        arch="ltx2",
        number="2.0",
        label="LTX-2",
        hub_id="Lightricks/LTX-2",
        transformer_config={**_TRANSFORMER_COMMON, "use_prompt_embeddings": True},
        connectors_config=_CONNECTORS_20,
        vae_config=_VAE_20,
        audio_vae_config=_AUDIO_VAE,
        vocoder_class="LTX2Vocoder",
        vocoder_config={"output_sampling_rate": 24000},
        text_encoder_class="Gemma3ForConditionalGeneration",
        text_leading_bos=False,
        cross_timestep_routing="own",
        keyframe_first_frame=False,
        video_latent_space="ltx2.0-video-vae",
        sample_steps=40,
        guidance_scale=3.0,
        audio_guidance_scale=7.0,
        stg_blocks=(29,),
        audio_sample_rate=24000,
    ),
    "ltx2.3": LTX2Version(
        arch="ltx2.3",
        number="2.3",
        label="LTX-2.3",
        hub_id="diffusers/LTX-2.3-Diffusers",
        transformer_config=_TRANSFORMER_23,
        connectors_config=_CONNECTORS_23,
        vae_config=_VAE_23,
        audio_vae_config=_AUDIO_VAE,
        vocoder_class="LTX2VocoderWithBWE",
        vocoder_config={"output_sampling_rate": 48000},
        text_encoder_class="Gemma3ForConditionalGeneration",
        text_leading_bos=False,
        cross_timestep_routing="reference",
        keyframe_first_frame=False,
        video_latent_space="ltx2.3-video-vae",
        sample_steps=30,
        guidance_scale=3.0,
        audio_guidance_scale=7.0,
        stg_blocks=(28,),
        audio_sample_rate=48000,
    ),
    "ltx2.5": LTX2Version(
        arch="ltx2.5",
        number="2.5",
        label="LTX-2.5",
        hub_id="Lightricks/LTX-2.5-Diffusers",
        # The keyframe embedding is in 2.5.1+ releases only: a weight file decides for itself
        # (extensions_built_in/diffusion_models/ltx2/weights/load.py), this value is the default of the current release.
        transformer_config={**_TRANSFORMER_23, "ff_bias": False, "use_keyframes_abs_pos_embedding": True},
        connectors_config=_CONNECTORS_23,
        vae_config=_VAE_23,
        audio_vae_config=_AUDIO_VAE,
        vocoder_class="LTX2VocoderWithBWE",
        vocoder_config={"output_sampling_rate": 48000},
        text_encoder_class="Gemma4UnifiedForConditionalGeneration",
        text_leading_bos=True,
        cross_timestep_routing="reference",
        keyframe_first_frame=True,
        # The 2.5 conv VAE encoder is byte-identical to 2.3's, but its latent statistics
        # are unverified: keep the caches apart.
        video_latent_space="ltx2.5-video-vae",
        sample_steps=30,
        guidance_scale=3.0,
        audio_guidance_scale=7.0,
        stg_blocks=(28,),
        audio_sample_rate=48000,
    ),
}

ARCH_ALIASES = {"ltx-2": "ltx2", "ltx2.0": "ltx2", "ltx-2.3": "ltx2.3", "ltx23": "ltx2.3",
                "ltx-2.5": "ltx2.5", "ltx25": "ltx2.5"}
DEFAULT_ARCH = "ltx2"


def normalise_arch(value: str) -> str:
    """`LTX-2.3`, `ltx2.3:extra` -> `ltx2.3` (unknown names are returned as given)."""
    name = value.split(":")[0].strip().lower()
    return ARCH_ALIASES.get(name, name)


def get_version(arch: str) -> LTX2Version:
    try:
        return VERSIONS[normalise_arch(arch)]
    except KeyError:
        raise KeyError(f"model.arch '{arch}' is not one of {', '.join(VERSIONS)}") from None


def version_by_number(number: str) -> LTX2Version | None:
    return next((v for v in VERSIONS.values() if v.number == number), None)


def detect_version(transformer_config: dict) -> str:
    """The version number a transformer config belongs to (its distinguishing flags)."""
    if transformer_config.get("use_keyframes_abs_pos_embedding") or transformer_config.get("ff_bias") is False:
        return "2.5"
    if transformer_config.get("cross_attn_mod") or transformer_config.get("use_prompt_embeddings") is False:
        return "2.3"
    return "2.0"


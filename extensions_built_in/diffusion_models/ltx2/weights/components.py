"""Which diffusers class holds each component, built empty from its config, and its key namer.

A component is named as in diffusers' LTX2Pipeline: transformer, connectors, vae, audio_vae,
vocoder, text_encoder (the Gemma text model: 2.5's Gemma 4, ComfyUI's Gemma 3 file for 2.0/2.3). The key namer turns a diffusers
state-dict key into the key of the original file, so one table serves reading and writing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from extensions_built_in.diffusion_models.ltx2.weights.keys_dit import connectors_key, transformer_key
from extensions_built_in.diffusion_models.ltx2.weights.keys_gemma import text_encoder_key
from extensions_built_in.diffusion_models.ltx2.weights.keys_vae import audio_vae_key, video_vae_namer
from extensions_built_in.diffusion_models.ltx2.weights.keys_vocoder import vocoder_key

VERSIONS = ("2.0", "2.3", "2.5")
WEIGHT_COMPONENTS = ("transformer", "connectors", "vae", "audio_vae", "vocoder", "text_encoder")
DESCRIPTION = {
    "transformer": "transformer (DiT)", "connectors": "text connectors", "vae": "video VAE",
    "audio_vae": "audio VAE", "vocoder": "vocoder", "text_encoder": "text encoder (Gemma)",
    "tokenizer": "tokenizer",
}


def check_version(version: str) -> str:
    if version not in VERSIONS:
        raise ValueError(f"LTX-2 version {version!r} is not one of {', '.join(VERSIONS)}")
    return version


def component_class(component: str, version: str, config: dict[str, Any]) -> type:
    """The class that builds `component` of this version (a vocoder config may name its class)."""
    if component == "transformer":
        from diffusers import LTX2VideoTransformer3DModel  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)
        return LTX2VideoTransformer3DModel
    if component == "connectors":
        from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)
        return LTX2TextConnectors
    if component == "vae":
        from diffusers import AutoencoderKLLTX2Video  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)
        return AutoencoderKLLTX2Video
    if component == "audio_vae":
        from diffusers import AutoencoderKLLTX2Audio  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)
        return AutoencoderKLLTX2Audio
    if component == "vocoder":
        from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder, LTX2VocoderWithBWE  # noqa: PLC0415 (heavy (diffusers): loaded when first needed, so --check and start-up stay fast)
        named = config.get("_class_name")
        if named in ("LTX2Vocoder", "LTX2VocoderWithBWE"):
            return LTX2Vocoder if named == "LTX2Vocoder" else LTX2VocoderWithBWE
        # 2.0 ships HiFi-GAN at 24 kHz; 2.3 and 2.5 the 48 kHz vocoder with bandwidth extension
        return LTX2Vocoder if version == "2.0" else LTX2VocoderWithBWE
    if component == "text_encoder":
        if version != "2.5":  # 2.0 / 2.3: Gemma 3 (ComfyUI's text-encoder file), its text model
            from transformers import Gemma3TextModel  # noqa: PLC0415 (heavy (transformers): loaded when first needed, so --check and start-up stay fast)
            return Gemma3TextModel
        from transformers.models.gemma4_unified.modeling_gemma4_unified import Gemma4UnifiedTextModel  # noqa: PLC0415 (heavy (transformers): loaded when first needed, so --check and start-up stay fast)
        return Gemma4UnifiedTextModel
    raise ValueError(f"unknown component {component!r}")


def plain_config(module) -> dict[str, Any]:
    """A module's config as plain JSON-able data (diffusers' private `_` keys dropped)."""
    if component_is_transformers(module):
        return module.config.to_dict()
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(module.config).items()
            if not k.startswith("_")}


def component_is_transformers(module) -> bool:
    return hasattr(module.config, "to_dict") and not hasattr(module, "register_to_config")


def build_empty(component: str, version: str, config: dict[str, Any]):
    """The module with its parameters on the meta device (buffers real), ready for assign-loading."""
    from accelerate import init_empty_weights  # noqa: PLC0415 (heavy (accelerate): loaded when first needed, so --check and start-up stay fast)

    cls = component_class(component, version, config)
    with init_empty_weights(include_buffers=False):
        if component == "text_encoder":
            from transformers import Gemma3TextConfig  # noqa: PLC0415 (heavy (transformers): loaded when first needed, so --check and start-up stay fast)
            from transformers.models.gemma4_unified.configuration_gemma4_unified import Gemma4UnifiedTextConfig  # noqa: PLC0415 (heavy (transformers): loaded when first needed, so --check and start-up stay fast)
            text_config = {k: v for k, v in config.items() if k not in ("dtype", "torch_dtype", "model_type")}
            config_class = Gemma4UnifiedTextConfig if version == "2.5" else Gemma3TextConfig
            return cls(config_class(**text_config))
        return cls.from_config({k: v for k, v in config.items() if not k.startswith("_")})


def key_namer(component: str, config: dict[str, Any]) -> Callable[[str], str]:
    """diffusers key -> original key (single-file spelling, prefix included)."""
    if component == "vae":
        return video_vae_namer(config)
    return {"transformer": transformer_key, "connectors": connectors_key, "audio_vae": audio_vae_key,
            "vocoder": vocoder_key, "text_encoder": text_encoder_key}[component]

"""Which diffusers or transformers class holds each component, and the component built empty from
its config (the heavy half of components.py: the path checks read names only)."""

from __future__ import annotations

from typing import Any

from accelerate import init_empty_weights
from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder, LTX2VocoderWithBWE
from transformers import Gemma3TextConfig, Gemma3TextModel
from transformers.models.gemma4_unified.configuration_gemma4_unified import Gemma4UnifiedTextConfig
from transformers.models.gemma4_unified.modeling_gemma4_unified import Gemma4UnifiedTextModel


def component_class(component: str, version: str, config: dict[str, Any]) -> type:
    """The class that builds `component` of this version (a vocoder config may name its class)."""
    if component == "transformer":
        return LTX2VideoTransformer3DModel
    if component == "connectors":
        return LTX2TextConnectors
    if component == "vae":
        return AutoencoderKLLTX2Video
    if component == "audio_vae":
        return AutoencoderKLLTX2Audio
    if component == "vocoder":
        named = config.get("_class_name")
        if named in ("LTX2Vocoder", "LTX2VocoderWithBWE"):
            return LTX2Vocoder if named == "LTX2Vocoder" else LTX2VocoderWithBWE
        # 2.0 ships HiFi-GAN at 24 kHz; 2.3 and 2.5 the 48 kHz vocoder with bandwidth extension
        return LTX2Vocoder if version == "2.0" else LTX2VocoderWithBWE
    if component == "text_encoder":
        if version != "2.5":  # 2.0 / 2.3: Gemma 3 (ComfyUI's text-encoder file), its text model
            return Gemma3TextModel
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
    cls = component_class(component, version, config)
    with init_empty_weights(include_buffers=False):
        if component == "text_encoder":
            text_config = {k: v for k, v in config.items() if k not in ("dtype", "torch_dtype", "model_type")}
            config_class = Gemma4UnifiedTextConfig if version == "2.5" else Gemma3TextConfig
            return cls(config_class(**text_config))
        return cls.from_config({k: v for k, v in config.items() if not k.startswith("_")})

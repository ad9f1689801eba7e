"""The components a weight file holds, by name, and each one's key namer (classes.py builds them).

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


def key_namer(component: str, config: dict[str, Any]) -> Callable[[str], str]:
    """diffusers key -> original key (single-file spelling, prefix included)."""
    if component == "vae":
        return video_vae_namer(config)
    return {"transformer": transformer_key, "connectors": connectors_key, "audio_vae": audio_vae_key,
            "vocoder": vocoder_key, "text_encoder": text_encoder_key}[component]

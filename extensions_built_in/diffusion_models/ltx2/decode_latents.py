"""Cached latents back to pictures and sound: the inverse of LTX2Model.encode_video /
encode_audio, as LTX2Pipeline decodes (denormalise, video VAE; denormalise, unpack, audio
VAE to a mel spectrogram, vocoder to a waveform).

Used by `python -m toolkit.preview_cache` to let users hear and see what the model learns
from after their clips were encoded. Only the three decoders are loaded from a diffusers
folder (or hub snapshot); a model given as single weight files loads every component.
"""

from __future__ import annotations

import torch
from diffusers import LTX2Pipeline

from extensions_built_in.diffusion_models.ltx2.loading import ModelSources, load_components
from extensions_built_in.diffusion_models.ltx2.versions import LTX2Version

DECODERS = ("vae", "audio_vae", "vocoder")


def load_decoders(version: LTX2Version, sources: ModelSources, dtype: torch.dtype) -> dict:
    """{"vae", "audio_vae", "vocoder"} of the model, in eval mode."""
    components, _ = load_components(version, sources, dtype, only=DECODERS)
    return {name: components[name].eval() for name in DECODERS}


@torch.no_grad()
def decode_video(vae, latent: torch.Tensor) -> torch.Tensor:
    """Normalised latent (C, F', H', W') -> uint8 frames (F, H, W, 3)."""
    latents = LTX2Pipeline._denormalize_latents(latent[None].float(), vae.latents_mean, vae.latents_std,
                                                vae.config.scaling_factor).to(vae.dtype)
    # The pipeline decodes with decode_timestep 0 (and so no added noise) by default.
    timestep = torch.zeros(1, dtype=latents.dtype) if vae.config.timestep_conditioning else None
    video = vae.decode(latents, timestep, return_dict=False)[0][0]  # (3, F, H, W) in [-1, 1]
    return ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).contiguous()


@torch.no_grad()
def decode_audio(audio_vae, vocoder, packed: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Packed normalised latent (L, C_a * M') -> (waveform (channels, N) float, sample rate)."""
    latent_mel_bins = int(audio_vae.config.mel_bins) // int(audio_vae.mel_compression_ratio)
    latents = LTX2Pipeline._denormalize_audio_latents(packed[None].float(), audio_vae.latents_mean,
                                                      audio_vae.latents_std)
    latents = LTX2Pipeline._unpack_audio_latents(latents, packed.shape[0], num_mel_bins=latent_mel_bins)
    mel = audio_vae.decode(latents.to(audio_vae.dtype), return_dict=False)[0]
    wave = vocoder(mel.to(vocoder.dtype))[0].float()
    rate = int(getattr(vocoder.config, "output_sampling_rate", 24000))
    return wave.clamp(-1, 1), rate

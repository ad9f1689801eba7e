"""Video and audio VAE key names: diffusers -> original files (`vae.*`, `audio_vae.*`).

The original video VAE numbers its encoder and decoder stages as one flat list: a group of
residual blocks, then its down- (or up-) sampler, then the next group, with the mid block
last in the encoder and first in the decoder. diffusers nests the samplers inside the
groups. So for the usual four scaled stages:

    encoder  down_blocks.0, .1 (sampler of 0), .2, .3, ... .8 (mid_block)
    decoder  up_blocks.0 (mid_block), .1 (sampler of 0), .2 (group 0), ...

2.0 has three decoder stages (up_blocks.0-6); 2.3/2.5 have four, hence `up_blocks.7/8`.
The numbering is derived from the config (which stages have a sampler), so both layouts
come from one rule. Other renames: `resnets` -> `res_blocks`, the decoder's own timestep
embedder and table -> `last_time_embedder` / `last_scale_shift_table`, and the latent
statistics -> `per_channel_statistics.mean-of-means` / `std-of-means`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

VIDEO_VAE_PREFIX = "vae."
AUDIO_VAE_PREFIX = "audio_vae."
_STATS = {"latents_mean": "per_channel_statistics.mean-of-means",
          "latents_std": "per_channel_statistics.std-of-means"}
# Present in original files, not used by diffusers (the statistics it needs are the two above).
UNUSED_STATISTICS = ("per_channel_statistics.channel", "per_channel_statistics.mean-of-stds",
                     "per_channel_statistics.mean-of-stds_over_std-of-means")


def _flat_index(has_sampler: list[bool], first: int, sampler_first: bool) -> dict[tuple[int, bool], int]:
    """(diffusers stage, is_sampler) -> original flat index."""
    out, i = {}, first
    for stage, sampled in enumerate(has_sampler):
        order = [True, False] if sampler_first else [False, True]
        for is_sampler in order:
            if is_sampler and not sampled:
                continue
            out[(stage, is_sampler)] = i
            i += 1
    out[(-1, False)] = i  # the slot after the last stage (the encoder's mid block)
    return out


def video_vae_namer(config: dict[str, Any]) -> Callable[[str], str]:
    """A function diffusers key -> original key (with `vae.`) for a video VAE of this config."""
    n_down = len(config["down_block_types"])
    enc_scaled = list(config.get("spatio_temporal_scaling") or [True] * n_down)
    n_up = len(config["decoder_block_out_channels"])
    dec_scaled = list(config.get("decoder_spatio_temporal_scaling") or [True] * n_up)
    enc = _flat_index(enc_scaled, 0, sampler_first=False)
    dec = _flat_index(dec_scaled, 1, sampler_first=True)  # 0 is the decoder's mid block

    def name(key: str) -> str:
        if key in _STATS:
            return VIDEO_VAE_PREFIX + _STATS[key]
        parts = key.split(".")
        side, rest = parts[0], parts[1:]
        if side == "encoder" and rest[0] == "mid_block":
            rest = ["down_blocks", str(enc[(-1, False)])] + rest[1:]
        elif side == "decoder" and rest[0] == "mid_block":
            rest = ["up_blocks", "0"] + rest[1:]
        elif rest[0] in ("down_blocks", "up_blocks"):
            table = enc if rest[0] == "down_blocks" else dec
            stage = int(rest[1])
            if rest[2:4] in (["downsamplers", "0"], ["upsamplers", "0"]):
                rest = [rest[0], str(table[(stage, True)])] + rest[4:]
            else:
                rest = [rest[0], str(table[(stage, False)])] + rest[2:]
        elif side == "decoder" and rest[0] in ("time_embedder", "scale_shift_table"):
            rest = ["last_" + rest[0]] + rest[1:]
        rest = ["res_blocks" if p == "resnets" else p for p in rest]
        return VIDEO_VAE_PREFIX + ".".join([side] + rest)

    return name


def audio_vae_key(key: str) -> str:
    """Original key (with `audio_vae.`) of a diffusers audio VAE key: only the statistics differ."""
    return AUDIO_VAE_PREFIX + _STATS.get(key, key)

"""Vocoder key names: diffusers -> original files (`vocoder.*`).

2.0's HiFi-GAN vocoder sits directly under `vocoder.`; the 2.3/2.5 vocoder with bandwidth
extension nests three parts there (`vocoder.vocoder.*`, `vocoder.bwe_generator.*`,
`vocoder.mel_stft.*`). Inside a generator the original names are HiFi-GAN's: `conv_pre`,
`ups`, `resblocks`, `act_post`, `conv_post`, and an anti-aliased activation's down-sampler
keeps its filter under `lowpass`.
"""

from __future__ import annotations

VOCODER_PREFIX = "vocoder."
_PARTS = {"conv_in": "conv_pre", "upsamplers": "ups", "resnets": "resblocks",
          "act_out": "act_post", "conv_out": "conv_post"}


def vocoder_key(key: str) -> str:
    parts = [_PARTS.get(p, p) for p in key.split(".")]
    if len(parts) >= 2 and parts[-2] == "downsample" and parts[-1] == "filter":
        parts.insert(-1, "lowpass")
    return VOCODER_PREFIX + ".".join(parts)

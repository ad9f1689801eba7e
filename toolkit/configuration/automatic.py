"""The rules behind "automatic" config values: a key left out (or null) whose value follows
from other keys. The config schema (toolkit/config_modules.py) and the settings dataclasses
built without a config (tests, benchmarks, tools) both apply these, so a setting means the
same thing whichever way it was made."""

from __future__ import annotations


def alpha_for(rank: int) -> float:
    """network.linear_alpha left out: the rank, so the update's scale alpha/rank is 1.0 at any
    rank (the SOP's intent, and what ai-toolkit does for LTX-2)."""
    return float(rank)


def do_audio_for(num_frames: int) -> bool:
    """datasets[].do_audio left out: clips (more than one frame) train their audio, stills cannot."""
    return num_frames > 1


def spread_for(do_audio: bool) -> bool:
    """datasets[].shrink_video_to_frames left out: spread the frames over the whole clip only
    without audio; with audio a contiguous natural-speed window keeps the voice unsqueezed."""
    return not do_audio

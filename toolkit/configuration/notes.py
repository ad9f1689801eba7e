"""What a config does differently here than the same file did under ai-toolkit.

    override_warnings(job) -> [str]   # the loader: settings the automatic rules overrode
    startup_notes(process) -> [str]   # start-up lines: defaults that differ, the LoRA scale

Nothing changes silently for a config brought from ai-toolkit: every default of this
trainer that differs from ai-toolkit's (the SOP's voice fixes) is listed at start-up with
its value and the key that turns it off, unless the config sets that key itself (then both
trainers read the same value).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChangedDefault:
    """A setting whose default here differs from ai-toolkit's."""

    section: str  # "train", "network"
    key: str
    upstream: str  # what ai-toolkit did, in words
    turn_off: str  # the key and value that restore ai-toolkit's behaviour
    applies: Callable[[Any], bool] = lambda process: True


CHANGED_DEFAULTS: tuple[ChangedDefault, ...] = (
    ChangedDefault("train", "noise_offset", "0", "train.noise_offset: 0"),
    ChangedDefault("network", "rank_dropout", "0 (none)", "network.rank_dropout: 0"),
    ChangedDefault("train", "audio_preservation", "none (no voice preservation for audio-free items)",
                   "train.audio_preservation: none",
                   lambda p: any(d.do_audio for d in p.datasets)),
    ChangedDefault("train", "auto_balance_audio_loss", "false (fixed audio_loss_multiplier)",
                   "train.auto_balance_audio_loss: false",
                   lambda p: any(d.do_audio for d in p.datasets)),
    ChangedDefault("train", "independent_audio_timestep", "false (one timestep for audio and video)",
                   "train.independent_audio_timestep: false",
                   lambda p: any(d.do_audio for d in p.datasets)),
)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def override_warnings(job) -> list[str]:
    """One warning per dataset setting that an automatic rule overrode (config load)."""
    out = []
    for p, process in enumerate(job.config.process):
        for d, ds in enumerate(process.datasets):
            where = f"config.process[{p}].datasets[{d}]"
            overridden = getattr(ds, "_overridden", [])
            if "do_audio" in overridden:
                out.append(f"{where}.do_audio: true has no effect with num_frames: 1: clips train as stills "
                           "without audio (as in ai-toolkit); set num_frames (8k+1, e.g. 121) to train the voice")
            if "shrink_video_to_frames" in overridden:
                window = ds.num_frames / ds.fps
                out.append(f"{where}.shrink_video_to_frames: true is not applied because do_audio is on: "
                           f"spreading the frames would squeeze each clip's audio into {window:.2f} s (a "
                           f"{2 * window:.1f} s clip would play at twice its speed and pitch); natural-speed "
                           "windows are used instead. To spread "
                           "anyway add shrink_video_with_audio: true (audio_preserve_pitch: true keeps the pitch)")
    return out


def _alpha_lines(network) -> list[str]:
    rank, alpha = network.linear, network.linear_alpha
    scale = alpha / rank
    line = f"LoRA scale alpha/rank = {alpha:g}/{rank} = {scale:g}"
    if "linear_alpha" not in network.model_fields_set or abs(alpha - rank) < 1e-9:
        return [line + (" (alpha defaults to the rank)" if "linear_alpha" not in network.model_fields_set else "")]
    return [line + f"; ai-toolkit forces alpha = rank for LTX-2, so the same file trains at scale 1 "
                   f"there ({scale:g} here): set network.linear_alpha: {rank} to match it"]


def startup_notes(process) -> list[str]:
    """Lines for the start of a run: the LoRA scale, and every default that differs from
    ai-toolkit's and that the config leaves unset."""
    lines = _alpha_lines(process.network)
    changed = []
    for item in CHANGED_DEFAULTS:
        section = getattr(process, item.section)
        if item.key in section.model_fields_set or not item.applies(process):
            continue
        value = getattr(section, item.key)
        changed.append(f"{item.section}.{item.key} = {_show(value)} (ai-toolkit: {item.upstream}; "
                       f"off: {item.turn_off})")
    for d, ds in enumerate(process.datasets):
        if ds.do_audio and "shrink_video_to_frames" not in ds.model_fields_set and not ds.shrink_video_to_frames:
            changed.append(f"datasets[{d}]: natural-speed clip windows (ai-toolkit: frames spread over the "
                           "whole clip; to spread: shrink_video_to_frames: true and shrink_video_with_audio: true)")
    lines += _phase_lines(process)
    if changed:  # last: the longest line
        lines.append("defaults that differ from ai-toolkit's for this config: " + "; ".join(changed))
    return lines


def _phase_lines(process) -> list[str]:
    """ai-toolkit's memory switches that every run here does anyway (docs/memory.md, Phases)."""
    done = [key for key, on in (
        ("model.low_vram", process.model.low_vram),
        ("train.unload_text_encoder", process.train.unload_text_encoder),
        ("train.cache_text_embeddings", process.train.cache_text_embeddings
         or any(ds.cache_text_embeddings for ds in process.datasets))) if on]
    if not done:
        return []
    return [f"{', '.join(done)}: every run does this already: captions are encoded once before training, the "
            "text encoder is freed before anything else loads, and each component is on the device only in the "
            "phases that use it (docs/memory.md, Phases)"]

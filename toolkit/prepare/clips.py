"""One window of a source, cut into a training clip: exactly ``num_frames`` frames at ``fps``
(the frames shown at ``start + i / fps``) with the same span of audio at 48 kHz, encoded as
H.264 + AAC and written atomically (a clip is either whole or absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.media.audio_decode import decode_audio
from toolkit.media.loudness import clipping_share, normalize
from toolkit.media.mp4_writer import write_mp4
from toolkit.media.video_decode import decode_frames

CLIP_SAMPLE_RATE = 48000


def window_audio(source: Path, start_s: float, num_frames: int, fps: float) -> np.ndarray:
    """The window's audio, stereo at 48 kHz ([2, N])."""
    return decode_audio(source, start_s, num_frames / fps, sample_rate=CLIP_SAMPLE_RATE).numpy()


def write_clip(source: Path, dest: Path, start_s: float, num_frames: int, fps: float, audio: np.ndarray,
               loudness_target: float | None) -> dict:
    """Write ``dest`` from ``source``; returns what was measured on the way (clipping share of
    the source's samples, the loudness report when normalised)."""
    frames = decode_frames(source, [start_s + i / fps for i in range(num_frames)])
    report = {"clipping_share": round(clipping_share(audio), 6)}
    if loudness_target is not None:
        audio, report["loudness"] = normalize(audio, CLIP_SAMPLE_RATE, loudness_target)
    write_mp4(dest, frames, fps, audio, CLIP_SAMPLE_RATE)
    return report

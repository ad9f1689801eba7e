"""Builders for test media (PyAV, written at test time) and signal measurements.

Imported by the media and dataset tests (``from test_media_factory import ...``); the
few tests at the bottom check that the builders make what they claim.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

HAVE_FFMPEG = shutil.which("ffmpeg") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="the ffmpeg program is not on PATH")

_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "5.1": 6}


def tone(sample_rate: int, seconds: float, freq: float, onset_s: float = 0.0, amp: float = 0.5) -> np.ndarray:
    """float32 ``[N]`` sine of ``freq`` Hz that is silent before ``onset_s``."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t) * (t >= onset_s)).astype(np.float32)


def grey_frames(num_frames: int, width: int = 32, height: int = 32, step: int = 8) -> np.ndarray:
    """uint8 ``[F, H, W, 3]`` flat grey frames; frame i has level ``i * step``."""
    levels = (np.arange(num_frames) * step) % 256
    return np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).astype(np.uint8).copy()


def frame_index_of(frames, step: int = 8) -> list[int]:
    """Invert :func:`grey_frames`: frame index from the mean level of each frame."""
    x = np.asarray(frames, dtype=np.float32)
    return [int(round(v / step)) for v in x.reshape(x.shape[0], -1).mean(axis=1)]


def write_media(
    path,
    *,
    container_format: str | None = None,
    frames: np.ndarray | None = None,
    fps: int = 24,
    video_codec: str = "libx264",
    audio: np.ndarray | None = None,
    sample_rate: int = 44100,
    layout: str = "stereo",
    audio_codec: str = "aac",
    gop: int | None = None,
    audio_start_s: float = 0.0,
) -> Path:
    """Write a file with an optional video stream (uint8 ``[F, H, W, 3]``, lossless-ish
    h264/vp9) and an optional audio stream (float ``[C, N]`` or ``[N]``, duplicated to
    the layout's channel count when 1-D) whose first sample is at ``audio_start_s``."""
    path = Path(path)
    with av.open(str(path), "w", format=container_format) as out:
        vstream = astream = None
        if frames is not None:
            vstream = out.add_stream(video_codec, rate=fps)
            vstream.height, vstream.width = int(frames.shape[1]), int(frames.shape[2])
            vstream.pix_fmt = "yuv420p"
            opts = {"qp": "0"} if video_codec == "libx264" else {"crf": "10", "b": "0", "deadline": "realtime"}
            if gop:
                opts["g"] = str(gop)
            vstream.options = opts
        if audio is not None:
            astream = out.add_stream(audio_codec, rate=sample_rate)
            astream.layout = layout
            channels = _LAYOUT_CHANNELS[layout]
            audio = np.asarray(audio, np.float32)
            if audio.ndim == 1:
                audio = np.tile(audio, (channels, 1))
            assert audio.shape[0] == channels
        if vstream is not None:
            for i, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts = i
                for packet in vstream.encode(frame):
                    out.mux(packet)
            for packet in vstream.encode():
                out.mux(packet)
        if astream is not None:
            for start in range(0, audio.shape[1], 960):
                piece = np.ascontiguousarray(audio[:, start : start + 960])
                frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=layout)
                frame.sample_rate = sample_rate
                frame.pts = start + int(round(audio_start_s * sample_rate))
                frame.time_base = Fraction(1, sample_rate)
                for packet in astream.encode(frame):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    return path


def write_vfr_mp4(path, pts_ms: list[int], step: int = 30) -> Path:
    """Variable-frame-rate mp4: frame k (grey level ``k * step``) shown from ``pts_ms[k]``."""
    path = Path(path)
    with av.open(str(path), "w", format="mp4") as out:
        vstream = out.add_stream("libx264", rate=30)
        vstream.width = vstream.height = 32
        vstream.pix_fmt = "yuv420p"
        vstream.codec_context.time_base = Fraction(1, 1000)
        vstream.time_base = Fraction(1, 1000)
        vstream.options = {"qp": "0"}
        for k, pts in enumerate(pts_ms):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), k * step, np.uint8), format="rgb24")
            frame.pts = pts
            frame.time_base = Fraction(1, 1000)
            for packet in vstream.encode(frame):
                out.mux(packet)
        for packet in vstream.encode():
            out.mux(packet)
    return path


def dominant_frequency(x: np.ndarray, sample_rate: int) -> float:
    """Frequency (Hz) of the strongest FFT bin of ``x`` [N], refined by parabolic fit."""
    x = np.asarray(x, np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    spectrum[0] = 0
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + offset) * sample_rate / x.size


def onset_s(x: np.ndarray, sample_rate: int, threshold: float = 0.05) -> float:
    """Time (s) of the first sample of ``x`` [N] whose magnitude exceeds ``threshold``."""
    above = np.flatnonzero(np.abs(np.asarray(x)) > threshold)
    assert above.size, "signal never exceeds the threshold"
    return above[0] / sample_rate


# --------------------------------------------------------------------------- self-checks


def test_write_media_makes_the_requested_streams(tmp_path):
    path = write_media(
        tmp_path / "a.mkv", container_format="matroska", frames=grey_frames(3), audio=tone(48000, 0.5, 440),
        sample_rate=48000, layout="5.1", audio_codec="libopus",
    )  # fmt: skip
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        a = c.streams.audio[0].codec_context
        assert (a.name, a.sample_rate, a.channels) == ("opus", 48000, 6)


def test_measurements_on_a_clean_tone():
    x = tone(16000, 1.0, 523.0, onset_s=0.25)
    assert abs(dominant_frequency(x[8000:], 16000) - 523.0) < 0.5
    assert abs(onset_s(x, 16000) - 0.25) < 1e-3

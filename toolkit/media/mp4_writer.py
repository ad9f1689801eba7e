"""Write frames (and optionally a waveform) to an h264 + AAC mp4, atomically.

Used for samples during training and for synthetic test clips. The file is written to
a temporary name in the destination folder and moved into place by the project's one
atomic writer (``toolkit.atomic``), so a reader (the UI, a crashed run's resume) never sees
a half-written mp4.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
import torch

from toolkit.atomic import atomic_write_path
from toolkit.errors import MediaError

#: Channel count -> FFmpeg layout name for the audio track.
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}


def write_mp4(
    path: str | os.PathLike,
    frames: torch.Tensor | np.ndarray,
    fps: float,
    audio: torch.Tensor | np.ndarray | None = None,
    sample_rate: int = 16000,
    *,
    crf: int = 18,
) -> Path:
    """Encode ``frames`` (and ``audio``) to ``path`` as h264 (yuv420p) + AAC in mp4.

    Args:
        path: destination ``.mp4``; its folder must exist.
        frames: uint8 ``[F, H, W, 3]`` RGB (torch or numpy), F >= 1. Odd H or W are
            padded by one replicated edge row/column (yuv420p needs even sizes).
        fps: frames per second (> 0; fractional rates such as 23.976 are kept as a
            fraction).
        audio: float ``[C, N]`` in [-1, 1] (C in 1, 2, 6, 8; values outside are
            clipped), a 1-D ``[N]`` mono wave, or None for a silent (audio-less) file.
        sample_rate: Hz of ``audio``.
        crf: x264 quality (lower is better; 18 is visually lossless for most content).

    Returns:
        The destination path.

    Raises:
        MediaError: bad shapes/values, or the encoder failed (the temp file is removed).
        WriteFailed: the file system refused the write (names the path and the reason).
    """
    path = Path(path)
    video = _frames_array(path, frames)
    wave = None if audio is None else _audio_array(path, audio)
    if not fps or fps <= 0:
        raise MediaError(path, f"fps ({fps}) must be > 0")
    if wave is not None and (int(sample_rate) != sample_rate or sample_rate <= 0):
        raise MediaError(path, f"sample_rate ({sample_rate}) must be a positive integer")

    video = _even_size(video)
    try:
        atomic_write_path(path, lambda tmp: _encode(tmp, video, fps, wave, int(sample_rate), crf))
    except (av.error.FFmpegError, ValueError) as exc:
        raise MediaError(path, f"could not write the mp4 ({exc})") from exc
    return path


def _frames_array(path: Path, frames) -> np.ndarray:
    array = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] < 1:
        raise MediaError(path, f"frames must be [F, H, W, 3] with F >= 1, got shape {tuple(array.shape)}")
    if array.dtype != np.uint8:
        raise MediaError(path, f"frames must be uint8 RGB, got {array.dtype}")
    return array


def _audio_array(path: Path, audio) -> np.ndarray:
    array = audio.detach().cpu().float().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] not in _LAYOUTS or array.shape[1] < 1:
        raise MediaError(
            path, f"audio must be [C, N] with C in {sorted(_LAYOUTS)} and N >= 1, got {tuple(array.shape)}"
        )
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise MediaError(path, "audio contains NaN or infinite samples")
    return np.clip(array, -1.0, 1.0)


def _even_size(video: np.ndarray) -> np.ndarray:
    """Pad ``[F, H, W, 3]`` by one replicated edge row/column where H or W is odd."""
    pad_h = video.shape[1] % 2
    pad_w = video.shape[2] % 2
    if pad_h or pad_w:
        video = np.pad(video, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return video


def _encode(path: Path, video: np.ndarray, fps: float, wave, sample_rate: int, crf: int) -> None:
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4") as container:
        vstream = container.add_stream("libx264", rate=rate)
        vstream.width = int(video.shape[2])
        vstream.height = int(video.shape[1])
        vstream.pix_fmt = "yuv420p"
        vstream.codec_context.time_base = 1 / rate
        vstream.options = {"crf": str(crf)}
        astream = None
        if wave is not None:
            astream = container.add_stream("aac", rate=sample_rate)
            astream.layout = _LAYOUTS[wave.shape[0]]

        audio_pos = 0  # next audio sample to encode; audio is interleaved with video

        def encode_audio_until(end: int) -> None:
            nonlocal audio_pos
            while astream is not None and audio_pos < min(end, wave.shape[1]):
                stop = min(audio_pos + 1024, end, wave.shape[1])
                piece = np.ascontiguousarray(wave[:, audio_pos:stop])
                frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=astream.layout.name)
                frame.sample_rate = sample_rate
                frame.pts = audio_pos
                frame.time_base = Fraction(1, sample_rate)
                for packet in astream.encode(frame):
                    container.mux(packet)
                audio_pos = stop

        for index, image in enumerate(video):
            encode_audio_until(int((index + 1) * sample_rate / rate))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            encode_audio_until(wave.shape[1])
            for packet in astream.encode():
                container.mux(packet)

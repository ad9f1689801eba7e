"""Write a waveform to a 16-bit PCM .wav, atomically (the sound of an audio-only run's
samples, beside their mp4: `sample.audio_only`)."""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import numpy as np
import torch

from toolkit.atomic import atomic_write
from toolkit.errors import MediaError


def write_wav(path: str | os.PathLike, audio: torch.Tensor | np.ndarray, sample_rate: int) -> Path:
    """`audio`: float [C, N] (or [N]) in [-1, 1], clipped; written as C-channel 16-bit PCM.

    Raises:
        MediaError: bad shape or values. WriteFailed: the file system refused the write."""
    path = Path(path)
    array = audio.detach().cpu().float().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio, np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] < 1 or not 1 <= array.shape[0] <= 8:
        raise MediaError(path, f"audio must be [C, N] with 1-8 channels and N >= 1, got {tuple(array.shape)}")
    if not np.all(np.isfinite(array)):
        raise MediaError(path, "audio contains NaN or infinite samples")
    pcm = np.round(np.clip(array, -1.0, 1.0) * 32767.0).astype("<i2").T.tobytes()  # interleaved frames
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(int(array.shape[0]))
        writer.setsampwidth(2)
        writer.setframerate(int(sample_rate))
        writer.writeframes(pcm)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))

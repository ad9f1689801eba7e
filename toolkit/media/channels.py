"""Stereo channels measured one by one, and a mono mix that a polarity-inverted channel cannot cancel.

Phone and field recorders, and some mixes, put the voice on both channels with one of them
polarity-inverted (right = -left). Played on two speakers it sounds normal; mixed to mono
(L + R) / 2 it is silence. What LTX-2 itself hears is not affected: its audio VAE takes the
log-mel spectrogram of each channel (``in_channels`` 2), a magnitude, and the magnitude of
-x is that of x. Only a measurement or a model that mixes to mono first loses the voice:
the loudness scan (toolkit/dataset/audio_coverage.py) therefore measures each channel, and the
speaker encoder (toolkit/voice/similarity.py) takes :func:`phase_safe_mono`.
"""

from __future__ import annotations

import numpy as np

#: Correlation of two channels below which one counts as polarity-inverted against the other.
INVERTED_CORRELATION = -0.5


def channel_correlation(wave: np.ndarray) -> float:
    """Pearson correlation of the first two channels of ``[C, N]`` (0.0 for mono or silence)."""
    if wave.ndim != 2 or wave.shape[0] < 2 or wave.shape[1] == 0:
        return 0.0
    left = wave[0].astype(np.float64)
    right = wave[1].astype(np.float64)
    energy = float(np.sqrt(np.dot(left, left) * np.dot(right, right)))
    return float(np.dot(left, right) / energy) if energy > 0 else 0.0


def channels_inverted(wave: np.ndarray) -> bool:
    """True when the second channel is (mostly) the first one polarity-inverted."""
    return channel_correlation(wave) < INVERTED_CORRELATION


def phase_safe_mono(wave: np.ndarray) -> np.ndarray:
    """``[C, N]`` (or ``[N]``) -> ``[N]`` float32: the mean of the channels, each channel that
    runs against the first (negative correlation) flipped first, so an inverted channel adds
    to the voice instead of cancelling it. Ordinary stereo (correlation >= 0) is the plain
    mean, as before."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 1:
        return wave
    if wave.shape[0] == 1:
        return wave[0]
    out = wave[0].astype(np.float64)
    for channel in wave[1:]:
        sign = -1.0 if channel_correlation(np.stack([wave[0], channel])) < 0 else 1.0
        out = out + sign * channel.astype(np.float64)
    return (out / wave.shape[0]).astype(np.float32)

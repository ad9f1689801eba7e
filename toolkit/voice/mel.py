"""librosa's default mel filter bank (Slaney's mel scale, area-normalised), in numpy.

The speaker encoder (toolkit/voice/similarity.py) was trained on these features. Written here
rather than taken from transformers (which has the same function) so that `run.py --check`,
which must not import transformers, can embed voices; tests/test_voice_mel.py holds the two
equal.
"""

from __future__ import annotations

import numpy as np

_F_SP = 200.0 / 3  # Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz):
    hz = np.asarray(hz, np.float64)
    return np.where(hz >= _MIN_LOG_HZ, _MIN_LOG_MEL + np.log(np.maximum(hz, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP, hz / _F_SP)


def mel_to_hz(mel):
    mel = np.asarray(mel, np.float64)
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), mel * _F_SP)


def slaney_mel_bank(n_freqs: int, n_mels: int, min_hz: float, max_hz: float, sample_rate: int) -> np.ndarray:
    """(n_freqs, n_mels) triangular filters, each with unit area (librosa's ``norm="slaney"``)."""
    edges = mel_to_hz(np.linspace(hz_to_mel(min_hz), hz_to_mel(max_hz), n_mels + 2))
    fft_freqs = np.linspace(0, sample_rate // 2, n_freqs)
    width = np.diff(edges)
    slopes = edges[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / width[:-1]
    up = slopes[:, 2:] / width[1:]
    bank = np.maximum(0.0, np.minimum(down, up))
    return bank * (2.0 / (edges[2:n_mels + 2] - edges[:n_mels]))[None, :]

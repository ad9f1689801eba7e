"""Waveform -> log-mel spectrogram, the input the LTX-2 audio VAE encodes.

diffusers ships no audio encode path for LTX-2, so the trainer owns this step. Values follow
the reference implementation (LTX2_FACTS.md): 16 kHz stereo, n_fft 1024, window 1024, hop 160,
Hann window, centred with reflect padding, magnitude (power 1), slaney mel scale and norm,
f_min 0, f_max 8000, `log(clamp(mel, 1e-5))`. The mel count comes from the audio VAE config.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from transformers.audio_utils import mel_filter_bank

SAMPLE_RATE = 16000
N_FFT = 1024
HOP_LENGTH = 160
F_MAX = 8000.0


@lru_cache(maxsize=8)
def _mel_basis(n_mels: int, sample_rate: int) -> torch.Tensor:
    """(n_fft//2+1, n_mels) slaney filter bank, from transformers' maintained routine."""
    bank = mel_filter_bank(
        num_frequency_bins=N_FFT // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=min(F_MAX, sample_rate / 2),
        sampling_rate=sample_rate,
        norm="slaney",
        mel_scale="slaney",
    )
    return torch.from_numpy(bank).float()


def log_mel_spectrogram(waveform: torch.Tensor, n_mels: int, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Log-mel of a batch of stereo waveforms.

    waveform: (B, 2, N) float, samples at `sample_rate` Hz in [-1, 1].
    Returns (B, 2, T, n_mels) float32 with T = N // HOP_LENGTH + 1 (100 frames per second).
    """
    if waveform.ndim != 3:
        raise ValueError(f"waveform must be (B, channels, samples), got {tuple(waveform.shape)}")
    batch, channels, samples = waveform.shape
    flat = waveform.reshape(batch * channels, samples).float()
    window = torch.hann_window(N_FFT, device=flat.device)
    spec = torch.stft(
        flat,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        win_length=N_FFT,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs()  # (B*C, n_fft//2+1, T)
    mel = torch.matmul(spec.transpose(1, 2), _mel_basis(n_mels, sample_rate).to(flat.device))
    mel = torch.log(torch.clamp(mel, min=1e-5))
    return mel.reshape(batch, channels, mel.shape[1], n_mels)

"""Speaker similarity: how much the voice in a piece of audio sounds like a given speaker.

The speaker encoder is Resemblyzer's pretrained GE2E model (a 3-layer LSTM over 40-band
mel frames -> a 256-d, L2-normed embedding), whose weights (`pretrained.pt`, ~17 MB) ship
inside the `resemblyzer` wheel: nothing is downloaded at run time.

Why the network is rebuilt here instead of calling `resemblyzer.VoiceEncoder`: importing
any part of the `resemblyzer` package imports its audio module, which needs librosa (and
through it numba, llvmlite, scikit-learn, ...) only to compute a mel spectrogram and to
resample. We install the wheel without its dependencies, read its weights file, and
compute the same features with torch (STFT) and librosa's Slaney mel filter bank (in numpy:
toolkit/voice/mel.py).

Speech is found by the trainer's one speech detector (toolkit/voice/speech.py: Silero VAD
on loudness-normalised audio), the same one `--check`, the caching summary and strict audio
mode count speech with, so "a clip with speech" means the same thing everywhere.

The pipeline follows Resemblyzer's: 16 kHz mono, loudness normalised to -30 dBFS, everything
but speech cut with the VAD, 1.6 s partial windows at 1.3 per second, the mean of their
embeddings re-normed. Departures, both for a score a chart can trust: loudness is
normalised both ways (Resemblyzer only raises quiet audio, so a loud sample gave
different mel magnitudes, hence a different embedding), and audio with too little speech
gives no embedding at all (None) instead of an embedding of noise.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
import torch

from toolkit.media.channels import phase_safe_mono
from toolkit.voice.mel import slaney_mel_bank
from toolkit.voice.speech import (
    MIN_SPEECH_S,
    SAMPLE_RATE,
    VAD_CHUNK,
    SpeechDetectorUnavailable,
    normalised,
    speech_flags,
)

N_FFT = 400  # 25 ms windows
HOP = 160  # 10 ms steps
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s per partial utterance
PARTIAL_RATE = 1.3  # partials per second of speech
MIN_LAST_COVERAGE = 0.75  # a last partial shorter than this share of 1.6 s is dropped
VAD_PAD = 2  # chunks kept on each side of speech (64 ms)


#: A package of the scorer is not installed (the message says how to install it).
VoiceScorerUnavailable = SpeechDetectorUnavailable

INSTALL_HINT = ("install the scorer's packages with `pip install silero-vad==6.2.3` and `pip install --no-deps resemblyzer==0.1.4` "
                "(what `make setup` does), or set sample.voice_metric: false")


@dataclass
class VoiceEmbedding:
    vector: np.ndarray  # (256,) float32, L2-normed
    speech_s: float  # seconds the VAD took for speech


def weights_path() -> Path:
    """`pretrained.pt` inside the installed resemblyzer package, found without importing it."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise VoiceScorerUnavailable(f"the speaker encoder package resemblyzer is not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.is_file():
        raise VoiceScorerUnavailable(f"{path} is missing from the resemblyzer package: reinstall it; {INSTALL_HINT}")
    return path


class _Encoder(torch.nn.Module):
    """Resemblyzer's network, with its parameter names so its state dict loads as it is."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)


@lru_cache(maxsize=1)
def _mel_basis() -> torch.Tensor:
    # librosa's default bank (Slaney scale and area norm), which Resemblyzer was trained on;
    # in numpy (toolkit/voice/mel.py) so that `run.py --check` embeds voices without transformers.
    bank = slaney_mel_bank(N_FFT // 2 + 1, N_MELS, 0.0, SAMPLE_RATE / 2, SAMPLE_RATE)
    return torch.from_numpy(bank.T.astype(np.float32))  # (mels, freqs)


def mel_frames(wave: np.ndarray) -> torch.Tensor:
    """(frames, 40) power mel spectrogram (not log: the encoder was trained on power)."""
    spec = torch.stft(torch.from_numpy(wave.astype(np.float32)), N_FFT, HOP, window=torch.hann_window(N_FFT),
                      center=True, pad_mode="constant", return_complex=True)
    power = spec.abs() ** 2  # (freqs, frames)
    return (_mel_basis() @ power).T.contiguous()


def to_mono_16k(wave, sample_rate: int) -> np.ndarray:
    """Float32 mono at 16 kHz from a (N,) or (channels, N) array or tensor at any rate."""
    if isinstance(wave, torch.Tensor):
        wave = wave.detach().float().cpu().numpy()
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        wave = phase_safe_mono(wave)  # a plain mean cancels a polarity-inverted channel
    if wave.ndim != 1:
        raise ValueError(f"audio must be (samples,) or (channels, samples), got shape {wave.shape}")
    if sample_rate == SAMPLE_RATE or wave.size == 0:
        return wave

    # FFmpeg's swresample through PyAV (already a requirement): band-limited, any rate pair.
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    frame = av.AudioFrame.from_ndarray(wave[None, :], format="flt", layout="mono")
    frame.sample_rate = int(sample_rate)
    frame.pts = 0
    out = [o.to_ndarray().reshape(-1) for o in resampler.resample(frame)]
    out += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def speech_mask(flags: np.ndarray, num_samples: int) -> np.ndarray:
    """Per-sample mask of the speech chunks, each widened by VAD_PAD chunks on both sides so
    that onsets and short pauses inside a phrase are kept (as Resemblyzer keeps short gaps)."""
    kernel = np.ones(2 * VAD_PAD + 1)
    widened = np.convolve(flags.astype(np.float64), kernel, mode="same") > 0 if flags.size else flags
    mask = np.repeat(widened, VAD_CHUNK)
    return np.concatenate([mask, np.zeros(num_samples - mask.size, bool)])


class SpeakerEncoder:
    """Speaker embeddings of audio; one instance holds the ~17 MB network (CPU is plenty:
    a 5 s clip takes about 0.1 s)."""

    def __init__(self, device: str | torch.device = "cpu"):
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)["model_state"]
        self.net = _Encoder()
        # The checkpoint also holds the GE2E loss's similarity scale and bias: not ours to use.
        self.net.load_state_dict({k: v for k, v in state.items() if not k.startswith("similarity_")})
        self.device = torch.device(device)
        self.net.to(self.device).eval()

    def embed(self, wave, sample_rate: int) -> VoiceEmbedding | None:
        """The voice in `wave` (mono or (channels, N), any rate), or None when it holds less
        than MIN_SPEECH_S of speech (silence, music, noise)."""
        mono = normalised(to_mono_16k(wave, sample_rate))
        if mono is None:
            return None
        flags = speech_flags(mono)
        speech_s = float(flags.sum()) * VAD_CHUNK / SAMPLE_RATE
        if speech_s < MIN_SPEECH_S:
            return None
        return VoiceEmbedding(self._embed_speech(mono[speech_mask(flags, mono.size)]), speech_s)

    def _embed_speech(self, wave: np.ndarray) -> np.ndarray:
        """Resemblyzer's utterance embedding: the normed mean over 1.6 s partial windows."""
        n_frames = int(np.ceil((wave.size + 1) / HOP))
        step = int(round(SAMPLE_RATE / PARTIAL_RATE / HOP))
        starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
        last_coverage = (wave.size - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
        if last_coverage < MIN_LAST_COVERAGE and len(starts) > 1:
            starts = starts[:-1]
        needed = (starts[-1] + PARTIAL_FRAMES) * HOP
        if needed > wave.size:
            wave = np.pad(wave, (0, needed - wave.size))
        mels = mel_frames(wave)
        batch = torch.stack([mels[s:s + PARTIAL_FRAMES] for s in starts]).to(self.device)
        with torch.no_grad():
            partials = self.net(batch).cpu().numpy()
        mean = partials.mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def cosine(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Cosine similarity of two embeddings; 0.0 when either is missing (no speech: nothing
    of the voice survived, which is the lowest score the chart should show)."""
    if a is None or b is None:
        return 0.0
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else 0.0


def mean_voice(vectors: list[np.ndarray], weights: list[float] | None = None) -> np.ndarray | None:
    """The normed (weighted) mean of embeddings: one speaker's voice over several clips."""
    if not vectors:
        return None
    stack = np.stack([np.asarray(v, np.float64) for v in vectors])
    w = np.ones(len(vectors)) if weights is None else np.asarray(weights, np.float64)
    mean = (stack * w[:, None]).sum(axis=0) / max(w.sum(), 1e-12)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)

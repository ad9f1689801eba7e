"""The one speech detector, and the words every report uses for what a stretch of audio is.

"Voice" in this trainer means speech: the character talking. Audio that is not silent can
still be music, a tone or noise, which trains the audio track but teaches no voice. So
`--check`, the caching summary, strict audio mode, the run's ``speech_ratio`` and the
voice metric all ask this module, and call a window (or a clip) one of three kinds:

* ``speech``: the detector hears at least :func:`min_speech_s` of speech in it;
* ``sound``: not silent, but not speech either (music, tones, noise);
* ``silence``: quieter than the silence threshold throughout (toolkit.dataset.audio_coverage).

The detector is Silero VAD (the ``silero-vad`` package, its small TorchScript model ships
inside the wheel; nothing is downloaded) on 16 kHz mono audio whose loudness is first brought
to -30 dBFS, so a quiet and a loud recording of the same words give the same answer. WebRTC's
VAD was measured to take steady tones and music for speech; Silero scores both below 0.15.
"""

from __future__ import annotations

import importlib.util
import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from toolkit.errors import UserInputError

SAMPLE_RATE = 16000
VAD_CHUNK = 512  # samples per Silero VAD decision (32 ms at 16 kHz)
CHUNK_S = VAD_CHUNK / SAMPLE_RATE
VAD_THRESHOLD = 0.5  # Silero's own default speech probability threshold
TARGET_DBFS = -30.0  # loudness the audio is brought to before the detector hears it
SILENCE_DBFS = -70.0  # quieter than this over the whole track: nothing to detect
#: A clip (or a window) has speech when the detector hears at least this much of it. A clip
#: with less gives no speaker embedding either (toolkit/voice/similarity.py).
MIN_SPEECH_S = 0.3
#: A window shorter than MIN_SPEECH_S / this share has speech with this share of its length.
MIN_WINDOW_SPEECH_SHARE = 0.25

SPEECH, SOUND, SILENCE = "speech", "sound", "silence"
KINDS = (SPEECH, SOUND, SILENCE)
#: How reports name each kind (the same words in the log, `--check` and the web UI).
KIND_WORDS = {SPEECH: "speech", SOUND: "non-speech audio (music, tones, noise)", SILENCE: "silence"}

INSTALL_HINT = ("install the speech detector and speaker encoder with `pip install silero-vad==6.2.3` and "
                "`pip install --no-deps resemblyzer==0.1.4` (what `make setup` does)")


class SpeechDetectorUnavailable(UserInputError):
    """A package of the detector or scorer is not installed (exit 2; the message says how to
    install it)."""


def min_speech_s(window_s: float) -> float:
    """Seconds of speech a window of ``window_s`` needs to count as speech: MIN_SPEECH_S, or a
    quarter of a window too short to hold that much (a 0.375 s window of the tiny demo)."""
    return min(MIN_SPEECH_S, MIN_WINDOW_SPEECH_SHARE * window_s)


@lru_cache(maxsize=1)
def _vad_model():
    """Silero VAD's TorchScript model, read from the installed silero-vad package's data.

    Loaded directly rather than through `silero_vad.load_silero_vad`, whose module sets
    torch's thread count to 1 when imported: that would slow the whole training process."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise SpeechDetectorUnavailable(f"the speech detector silero-vad is not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.jit"
    if not path.is_file():
        raise SpeechDetectorUnavailable(f"{path} is missing from the silero-vad package: reinstall it; {INSTALL_HINT}")
    with warnings.catch_warnings():  # TorchScript is deprecated in torch, but the file is what ships
        warnings.simplefilter("ignore", DeprecationWarning)
        model = torch.jit.load(str(path), map_location="cpu")
    model.eval()
    return model


@contextmanager
def _one_thread():
    """One intra-op thread while the detector runs. Each 32 ms decision is a tiny model step:
    a second thread only adds synchronisation, and on a busy 2-core machine it made the
    detector 14x slower (10 s of audio: 9.5 s with 2 threads, 0.66 s with 1). The caller's
    setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def dbfs(wave: np.ndarray) -> float:
    """RMS level of a whole wave in dBFS (-inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    return 20 * np.log10(rms) if rms > 0 else -np.inf


def normalised(mono: np.ndarray) -> np.ndarray | None:
    """``mono`` (16 kHz) brought to TARGET_DBFS, or None when it is quieter than SILENCE_DBFS
    (then nothing in it is speech)."""
    level = dbfs(mono)
    if level < SILENCE_DBFS:
        return None
    return (mono * np.float32(10 ** ((TARGET_DBFS - level) / 20))).astype(np.float32, copy=False)


def speech_flags(wave: np.ndarray) -> np.ndarray:
    """Speech probability > VAD_THRESHOLD per 32 ms chunk of a 16 kHz wave that is already
    loudness-normalised (:func:`normalised`)."""
    model = _vad_model()
    chunks = torch.from_numpy(np.ascontiguousarray(wave[: wave.size - wave.size % VAD_CHUNK], np.float32))
    chunks = chunks.view(-1, VAD_CHUNK)
    with _one_thread(), torch.no_grad():
        model.reset_states()  # the model carries state from chunk to chunk: one stream at a time
        probs = [float(model(chunk[None], SAMPLE_RATE)) for chunk in chunks]
    return np.array(probs, dtype=np.float64) > VAD_THRESHOLD


def detect_speech(mono: np.ndarray) -> np.ndarray:
    """The detector: per 32 ms chunk of 16 kHz mono audio, whether it is speech."""
    loud = normalised(np.asarray(mono, np.float32))
    if loud is None:
        return np.zeros(mono.size // VAD_CHUNK, dtype=bool)
    return speech_flags(loud)


def speech_seconds(flags: np.ndarray, start_s: float = 0.0, duration_s: float | None = None) -> float:
    """Seconds of speech among ``flags`` (per 32 ms chunk from time 0) in a span."""
    if duration_s is None:
        return float(flags.sum()) * CHUNK_S
    first = max(0, int(np.floor(start_s / CHUNK_S)))
    last = min(flags.size, int(np.ceil((start_s + duration_s) / CHUNK_S)))
    return float(flags[first:last].sum()) * CHUNK_S if last > first else 0.0


def span_kind(flags: np.ndarray, silent: bool, start_s: float, duration_s: float) -> str:
    """What a span of a clip is: speech, sound or silence. ``silent``: the span's loudness is
    below the silence threshold (toolkit.dataset.audio_coverage.AudioCoverage.span_silent)."""
    if speech_seconds(flags, start_s, duration_s) >= min_speech_s(duration_s) - 1e-9:
        return SPEECH
    return SILENCE if silent else SOUND


def clip_has_speech(flags: np.ndarray) -> bool:
    """The whole track holds enough speech to embed a voice (the reference voice's rule)."""
    return speech_seconds(flags) >= MIN_SPEECH_S


def counts_line(counts: dict) -> str:
    """"3 speech, 1 non-speech audio (music, tones, noise), 0 silence" from {kind: count}."""
    return ", ".join(f"{counts.get(kind, 0)} {KIND_WORDS[kind]}" for kind in KINDS)

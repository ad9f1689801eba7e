"""The speaker-similarity score means something: real speech from espeak-ng, the real
pretrained speaker encoder and the real VAD. The same voice saying different sentences
scores clearly higher than different voices saying the same sentence; silence, noise and
music give no voice at all; loudness and the input sample rate do not move the score."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from toolkit.voice.similarity import SpeakerEncoder, cosine, mean_voice

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Seven purple bananas were sold at the market this morning.",
    "Please remember to close the window before you leave the house.",
)
# espeak-ng voices that differ in more than pitch (two male, one female); several of espeak's
# variants share one formant set and sound alike to any speaker encoder (m3 and m6 score
# 0.87 with each other), and its whisper voice is too unsteady to match itself well.
VOICES = ("en-us+m3", "en-us+f4", "en-us+david")


def speak(text: str, voice: str, folder: Path) -> tuple[np.ndarray, int]:
    path = folder / f"{abs(hash((text, voice)))}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as reader:
        rate = reader.getframerate()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").astype(np.float32) / 32768.0
    return pcm, rate


def resample(wave_: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Independent of the scorer's own resampling: FFmpeg's swresample through PyAV."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(wave_[None, :].astype(np.float32), format="flt", layout="mono")
    frame.sample_rate, frame.pts = rate, 0
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)] + \
          [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out)


@pytest.fixture(scope="module")
def encoder():
    return SpeakerEncoder()


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech")
    return {(voice, i): speak(text, voice, folder) for voice in VOICES for i, text in enumerate(SENTENCES)}


@pytest.fixture(scope="module")
def embeddings(encoder, speech):
    return {key: encoder.embed(wave_, rate).vector for key, (wave_, rate) in speech.items()}


def test_same_voice_scores_clearly_higher_than_other_voices(embeddings):
    for voice in VOICES:
        same = [cosine(embeddings[voice, i], embeddings[voice, j])
                for i in range(len(SENTENCES)) for j in range(i + 1, len(SENTENCES))]
        other = [cosine(embeddings[voice, i], embeddings[w, i]) for w in VOICES if w != voice
                 for i in range(len(SENTENCES))]
        assert min(same) > 0.7, (voice, same)
        assert min(same) > max(other) + 0.1, (voice, same, other)
    # The reference of a speaker (mean over clips) picks that speaker's unseen sentence.
    for voice in VOICES:
        reference = mean_voice([embeddings[voice, 0], embeddings[voice, 1]])
        scores = {w: cosine(embeddings[w, 2], reference) for w in VOICES}
        assert max(scores, key=scores.get) == voice, scores


def test_silence_noise_and_music_give_no_voice(encoder, speech, embeddings):
    rate = 16000
    t = np.arange(3 * rate) / rate
    rng = np.random.default_rng(0)
    melody = np.zeros_like(t)
    for k, freq in enumerate((262.0, 330.0, 392.0, 523.0, 440.0, 349.0)):
        part = (t >= k * 0.5) & (t < (k + 1) * 0.5)
        melody[part] = sum(np.sin(2 * np.pi * freq * h * t[part]) / h for h in (1, 2, 3))
    reference = embeddings[VOICES[0], 0]
    for name, audio in {
        "silence": np.zeros(3 * rate, np.float32),
        "white noise": np.clip(rng.normal(0, 0.3, 3 * rate), -1, 1).astype(np.float32),
        "tone": (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32),
        "music": (0.3 * melody).astype(np.float32),
    }.items():
        voice = encoder.embed(audio, rate)
        assert voice is None, f"{name} was taken for {voice.speech_s:.2f} s of speech"
        assert cosine(None if voice is None else voice.vector, reference) == 0.0
    # ... while a voice over a tone bed (the synthetic clips' kind of sound) is found, and is
    # still nearest to itself.
    wave_, src_rate = speech[VOICES[0], 0]
    bed = 0.2 * np.sin(2 * np.pi * 220 * np.arange(wave_.size) / src_rate)
    mixed = encoder.embed((wave_ + bed).astype(np.float32), src_rate)
    assert mixed is not None
    scores = {w: cosine(mixed.vector, embeddings[w, 0]) for w in VOICES}
    assert max(scores, key=scores.get) == VOICES[0] and scores[VOICES[0]] > 0.7, scores


def test_score_ignores_loudness_and_sample_rate(encoder, speech, embeddings):
    wave_, rate = speech[VOICES[0], 0]
    base = embeddings[VOICES[0], 0]
    peak = float(np.abs(wave_).max())
    for gain in (0.05, 0.9 / peak):  # -26 dB and just below full scale, never clipped
        assert cosine(encoder.embed(wave_ * gain, rate).vector, base) > 0.99, gain
    for target in (16000, 24000, 48000):
        at_rate = resample(wave_, rate, target)
        stereo = np.stack([at_rate, at_rate])  # (channels, samples) as decoded media arrive
        assert cosine(encoder.embed(stereo, target).vector, base) > 0.97, target
    # Invariance is not blindness: the other voices stay well apart at every rate.
    other = resample(speech[VOICES[1], 0][0], speech[VOICES[1], 0][1], 48000)
    assert cosine(encoder.embed(other, 48000).vector, base) < 0.8

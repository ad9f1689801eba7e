"""Whose voice each window holds: speaker embeddings, the character's reference voice, and
the verdict per window.

Each window's speech is embedded with the project's speaker encoder (Resemblyzer's GE2E
network, toolkit/voice/similarity.py), and so is each of its phrases that is long enough
to embed on its own (``PHRASE_MIN_S``). The reference is the speech-weighted mean voice of
``--reference`` clips, or, without them, of the dominant speaker cluster: the largest group
of windows whose voices are all near one window's voice (cosine >= ``CLUSTER_SIM``),
refined once around its own mean.

Verdicts, each with its score, all of them listed in prepare.jsonl:
- ``other_speaker``: the window's voice is far from the reference (< ``same_threshold``);
- ``several_speakers``: one phrase is the reference's voice and another is far from it;
- ``music``: the sound between the phrases (music, noise, a crowd) is within
  ``background_db`` of the voice's own level: it would be learnt as part of the voice.

Measured on espeak-ng voices (toolkit/dev/footage.py): the same voice scored 0.78-0.92
between phrases, the other voice 0.40-0.54, the character under a loud tone bed 0.58-0.69.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.errors import MediaError
from toolkit.voice.similarity import SAMPLE_RATE, cosine, mean_voice
from toolkit.voice.speech import CHUNK_S
from toolkit.voice.speech_segments import NO_SPEECH, Span

SAME_THRESHOLD = 0.70  # at least this near the reference: the character
OTHER_THRESHOLD = 0.60  # a phrase below this, beside one above SAME_THRESHOLD: several speakers
CLUSTER_SIM = 0.75
PHRASE_MIN_S = 0.8  # shorter phrases are not embedded alone (Resemblyzer's partials are 1.6 s)
BACKGROUND_DB = -15.0  # the pauses' level this close to the voice's: music or noise under it
CONTEXT_S = 1.0  # the background is measured over the window and this much around it


@dataclass
class WindowVoice:
    """What the speaker side knows about one window (JSON-able for the analysis cache)."""

    vector: list[float] | None = None
    speech_s: float = 0.0
    phrases: list[list[float]] = field(default_factory=list)  # embeddings of long phrases
    background_db: float | None = None  # pauses' level relative to the speech (dB)


def chunk_levels(wave_16k: np.ndarray) -> np.ndarray:
    """RMS level (dBFS) per 32 ms chunk."""
    n = int(round(CHUNK_S * SAMPLE_RATE))
    usable = wave_16k[: wave_16k.size - wave_16k.size % n].reshape(-1, n).astype(np.float64)
    rms = np.sqrt(np.mean(usable ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-9))


def background_db(levels: np.ndarray, spans: list[Span], start_s: float, end_s: float,
                  shot: tuple[float, float]) -> float | None:
    """Level of the non-speech chunks around the window relative to its speech chunks (dB),
    or None when either is missing."""
    lo, hi = max(shot[0], start_s - CONTEXT_S), min(shot[1], end_s + CONTEXT_S)
    first, last = int(lo / CHUNK_S), min(levels.size, int(hi / CHUNK_S))
    times = (np.arange(first, last) + 0.5) * CHUNK_S
    speech = np.zeros(times.size, bool)
    for span in spans:
        speech |= (times >= span.start_s) & (times < span.end_s)
    in_window = (times >= start_s) & (times < end_s)
    voiced, quiet = levels[first:last][speech & in_window], levels[first:last][~speech]
    if voiced.size < 3 or quiet.size < 3:
        return None
    power = lambda db: 10 * np.log10(np.mean(10 ** (db / 10)))  # noqa: E731 (one use)
    return round(float(power(quiet) - power(voiced)), 2)


def embed_window(encoder, wave_16k: np.ndarray, start_s: float, end_s: float, spans: list[Span]) -> WindowVoice:
    """The window's voice and its long phrases' voices."""
    piece = wave_16k[int(start_s * SAMPLE_RATE):int(end_s * SAMPLE_RATE)]
    found = WindowVoice()
    voice = encoder.embed(piece, SAMPLE_RATE)
    if voice is None:
        return found
    found.vector, found.speech_s = [float(v) for v in voice.vector], round(voice.speech_s, 3)
    phrases = [s for s in spans if s.start_s >= start_s and s.end_s <= end_s and s.duration_s >= PHRASE_MIN_S]
    if len(phrases) > 1:
        for span in phrases:
            part = encoder.embed(wave_16k[int(span.start_s * SAMPLE_RATE):int(span.end_s * SAMPLE_RATE)], SAMPLE_RATE)
            if part is not None:
                found.phrases.append([float(v) for v in part.vector])
    return found


@dataclass
class Reference:
    vector: np.ndarray | None
    source: str  # what it was made from, for the report
    members: list[str] = field(default_factory=list)  # window ids of the dominant cluster


def dominant_cluster(ids: list[str], vectors: list[np.ndarray], weights: list[float]) -> Reference:
    """The reference voice as the dominant speaker cluster of the windows."""
    if not vectors:
        return Reference(None, "no window has speech")
    stack = np.stack([np.asarray(v, np.float64) for v in vectors])
    sims = stack @ stack.T
    near = sims >= CLUSTER_SIM
    seed = int(np.argmax(near.sum(axis=1) + 1e-3 * sims.sum(axis=1)))
    members = np.flatnonzero(near[seed])
    centre = mean_voice([vectors[k] for k in members], [weights[k] for k in members])
    members = np.flatnonzero(stack @ np.asarray(centre, np.float64) >= CLUSTER_SIM) if centre is not None else members
    if members.size == 0:
        members = np.array([seed])
    centre = mean_voice([vectors[k] for k in members], [weights[k] for k in members])
    speech = sum(weights[k] for k in members)
    return Reference(centre, f"the dominant speaker cluster: {members.size} of {len(vectors)} windows with speech "
                             f"({speech:.1f} s of speech)", [ids[k] for k in members])


def reference_from_files(encoder, files: list[Path], decode) -> tuple[Reference, list[str]]:
    """The reference voice of ``--reference`` clips: (reference, a problem line per file
    that gave nothing). ``decode(path)`` gives 16 kHz mono or raises MediaError."""
    vectors, weights, problems = [], [], []
    for path in files:
        try:
            wave = decode(path)
        except MediaError as exc:
            problems.append(str(exc))
            continue
        voice = encoder.embed(wave, SAMPLE_RATE)
        if voice is None:
            problems.append(f"{path}: {NO_SPEECH}")
            continue
        vectors.append(voice.vector)
        weights.append(voice.speech_s)
    if not vectors:
        return Reference(None, "no reference clip had speech"), problems
    return Reference(mean_voice(vectors, weights), f"{len(vectors)} reference clip{'s' if len(vectors) != 1 else ''} "
                                                   f"({sum(weights):.1f} s of speech)"), problems


@dataclass
class Verdict:
    score: float | None  # cosine to the reference (None: no speech or no reference)
    phrase_scores: list[float]
    reasons: list[str]


def judge(voice: WindowVoice, reference: np.ndarray | None, same: float = SAME_THRESHOLD,
          other: float = OTHER_THRESHOLD, background: float = BACKGROUND_DB) -> Verdict:
    """The verdict on one window with speech."""
    reasons = []
    if voice.background_db is not None and voice.background_db > background:
        reasons.append("music")
    if reference is None or voice.vector is None:
        return Verdict(None, [], reasons)
    score = round(cosine(np.asarray(voice.vector), reference), 4)
    phrase_scores = [round(cosine(np.asarray(p), reference), 4) for p in voice.phrases]
    if phrase_scores and max(phrase_scores) >= same and min(phrase_scores) < other:
        reasons.append("several_speakers")
    elif score < same:
        reasons.append("other_speaker")
    return Verdict(score, phrase_scores, reasons)

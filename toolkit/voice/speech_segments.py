"""Where speech is in a long recording: spans of speech and the pauses between them.

Speech is found by the project's voice activity detector (Silero VAD, per 32 ms chunk of
16 kHz audio: :func:`toolkit.voice_similarity.speech_flags`). Runs of speech chunks closer
than ``bridge_s`` are joined (the short gaps between the words of a phrase are not pauses
anyone would cut in), and runs shorter than ``min_speech_s`` are dropped (a click or the
attack of a note that the detector took for a syllable).

A *pause* is what lies between two speech spans; a cut placed in a pause at least
``PAUSE_MARGIN_S`` away from speech never falls inside a word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.voice_similarity import SAMPLE_RATE, VAD_CHUNK, speech_flags

CHUNK_S = VAD_CHUNK / SAMPLE_RATE  # 32 ms
#: Gaps shorter than this between speech chunks are part of the phrase, not pauses.
BRIDGE_S = 0.2
#: Speech runs shorter than this are left out (clicks, note attacks).
MIN_SPEECH_S = 0.1
#: A cut stays at least this far from detected speech (the detector's chunks are 32 ms; word
#: onsets are soft).
PAUSE_MARGIN_S = 0.06


@dataclass(frozen=True)
class Span:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def spans_from_flags(flags: np.ndarray, bridge_s: float = BRIDGE_S, min_speech_s: float = MIN_SPEECH_S,
                     chunk_s: float = CHUNK_S) -> list[Span]:
    """Speech spans (seconds) from per-chunk speech flags."""
    spans: list[list[float]] = []
    padded = np.concatenate([[False], np.asarray(flags, bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        lo, hi = start * chunk_s, stop * chunk_s
        if spans and lo - spans[-1][1] < bridge_s:
            spans[-1][1] = hi
        else:
            spans.append([lo, hi])
    return [Span(round(lo, 4), round(hi, 4)) for lo, hi in spans if hi - lo >= min_speech_s]


def speech_spans(wave_16k: np.ndarray, bridge_s: float = BRIDGE_S, min_speech_s: float = MIN_SPEECH_S) -> list[Span]:
    """Speech spans of a mono 16 kHz wave (any length)."""
    if wave_16k.size < VAD_CHUNK:
        return []
    return spans_from_flags(speech_flags(wave_16k), bridge_s, min_speech_s)


def pauses_between(spans: list[Span], start_s: float, end_s: float, margin_s: float = PAUSE_MARGIN_S) -> list[Span]:
    """The places in ``[start_s, end_s]`` where a cut touches no speech: the gaps between
    ``spans``, each shrunk by ``margin_s`` on its speech sides (not at the range's own edges)."""
    pauses, at = [], start_s
    for span in spans:
        if span.end_s <= start_s:
            continue
        if span.start_s >= end_s:
            break
        hi = span.start_s - margin_s
        if hi >= at:
            pauses.append(Span(at, hi))
        at = max(at, span.end_s + margin_s)
    if at <= end_s:
        pauses.append(Span(at, end_s))
    return pauses


def speech_seconds(spans: list[Span], start_s: float, end_s: float) -> float:
    """Seconds of speech inside ``[start_s, end_s]``."""
    return sum(max(0.0, min(end_s, s.end_s) - max(start_s, s.start_s)) for s in spans)

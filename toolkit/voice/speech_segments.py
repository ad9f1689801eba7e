"""Where speech is in a long recording: spans of speech and the pauses between them.

The speech flags come from the trainer's one speech detector (toolkit/voice/speech.py:
Silero VAD on loudness-normalised 16 kHz audio, one flag per 32 ms chunk), so what
`toolkit.prepare` calls speech is what `--check`, the caching summary and the voice metric
call speech. This module only turns the flags into spans: runs of speech chunks closer than
``bridge_s`` are joined (the short gaps between the words of a phrase are not pauses anyone
would cut in), and runs shorter than ``min_run_s`` are dropped (a click or the attack of a
note that the detector took for a syllable).

A *pause* is what lies between two speech spans; a cut placed in a pause at least
``PAUSE_MARGIN_S`` away from speech never falls inside a word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.voice.speech import CHUNK_S, KIND_WORDS, SILENCE, SOUND

#: What a recording without speech is called in the reports (the detector's words).
NO_SPEECH = f"no speech in its audio (only {KIND_WORDS[SOUND]} or {KIND_WORDS[SILENCE]})"

#: Gaps shorter than this between speech chunks are part of the phrase, not pauses.
BRIDGE_S = 0.2
#: Speech runs shorter than this are left out (clicks, note attacks). Whether a recording has
#: speech at all is the detector's own rule (toolkit.voice.speech.clip_has_speech).
MIN_RUN_S = 0.1
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


def spans_from_flags(flags: np.ndarray, bridge_s: float = BRIDGE_S, min_run_s: float = MIN_RUN_S,
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
    return [Span(round(lo, 4), round(hi, 4)) for lo, hi in spans if hi - lo >= min_run_s]


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

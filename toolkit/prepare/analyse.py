"""One source file, analysed: its shots, where speech is, the windows, and each window's voice.

Nothing here writes to the source: it is decoded (PyAV) and the findings are returned as a
JSON-able dict that toolkit.prepare.state caches. A file that cannot be used raises
:class:`SourceUnusable` with the reason, which the caller prints as one line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from toolkit.errors import MediaError, NoAudioStream
from toolkit.media.audio_decode import decode_audio
from toolkit.media.channels import phase_safe_mono
from toolkit.media.video_decode import probe_media
from toolkit.prepare.shots import detect_shots, shot_spans
from toolkit.prepare.speakers import background_db, chunk_levels, embed_window
from toolkit.prepare.windows import plan_shot
from toolkit.voice.speech import SAMPLE_RATE, clip_has_speech, detect_speech
from toolkit.voice.speech_segments import Span, spans_from_flags


class SourceUnusable(Exception):
    """A source gives nothing: ``reason`` says why (no audio stream, undecodable, no speech)."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def analyse_source(path: Path, length_s: float, encoder, progress: Callable[[str], None] | None = None) -> dict:
    """Shots, speech spans and windows of one source; see the module docstring."""
    note = progress or (lambda _: None)
    try:
        info = probe_media(path)
    except MediaError as exc:
        raise SourceUnusable(path, f"cannot be decoded ({exc.problem})") from exc
    if info.kind != "video":
        raise SourceUnusable(path, "is a still image, not footage")
    if not info.has_audio:
        raise SourceUnusable(path, "has no audio stream: there is no voice to prepare")
    if info.duration_s < length_s:
        raise SourceUnusable(path, f"is {info.duration_s:.2f} s long, shorter than one {length_s:.3f} s window")
    note("speech")
    try:
        wave = phase_safe_mono(decode_audio(path, sample_rate=SAMPLE_RATE).numpy())
    except NoAudioStream as exc:
        raise SourceUnusable(path, "has no audio stream: there is no voice to prepare") from exc
    except MediaError as exc:
        raise SourceUnusable(path, f"its audio cannot be decoded ({exc.problem})") from exc
    # The one speech detector and its rule for "has speech" (toolkit/voice/speech.py); a
    # recording below that rule has no spans, and the caller reports it as without speech.
    flags = detect_speech(wave)
    spans = spans_from_flags(flags) if clip_has_speech(flags) else []
    note("shots")
    try:
        scan = detect_shots(path)
    except MediaError as exc:
        raise SourceUnusable(path, f"its video cannot be decoded ({exc.problem})") from exc
    duration = min(scan.duration_s, wave.size / SAMPLE_RATE)  # where both tracks are
    shots = [(a, min(b, duration)) for a, b in shot_spans(scan) if a < duration]
    levels = chunk_levels(wave)
    analysis = {"duration_s": round(duration, 4), "cuts_s": scan.cuts_s, "fps": info.fps,
                "size": [info.width, info.height], "spans": [[s.start_s, s.end_s] for s in spans],
                "windows": [], "silent": [], "too_long": [], "unplaced": []}
    if not spans:
        return analysis
    note("voices")
    for number, (a, b) in enumerate(shots):
        plan = plan_shot(number, a, b, spans, length_s)
        for w in plan.speech:
            voice = embed_window(encoder, wave, w.start_s, w.end_s, spans)
            voice.background_db = background_db(levels, spans, w.start_s, w.end_s, (a, b))
            analysis["windows"].append({"start_s": w.start_s, "end_s": w.end_s, "shot": w.shot,
                                        "speech_s": w.speech_s, "voice": voice.__dict__})
        for w in plan.silent:
            piece = wave[int(w.start_s * SAMPLE_RATE):int(w.end_s * SAMPLE_RATE)]
            rms = float(np.sqrt(np.mean(piece.astype(np.float64) ** 2))) if piece.size else 0.0
            analysis["silent"].append({"start_s": w.start_s, "end_s": w.end_s, "shot": w.shot, "speech_s": 0.0,
                                       "level_dbfs": round(20 * np.log10(max(rms, 1e-9)), 2)})
        analysis["too_long"] += [[s.start_s, s.end_s] for s in plan.too_long]
        analysis["unplaced"] += [[s.start_s, s.end_s] for s in plan.unplaced]
    return analysis


def spans_of(analysis: dict) -> list[Span]:
    return [Span(a, b) for a, b in analysis["spans"]]

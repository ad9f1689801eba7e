"""Which windows of a clip train, and what each one's audio will be: one plan for the run
and for ``--check``, so the two can never disagree about a dataset.

With audio on, windows lie inside the span covered by both tracks: from the later of the
two starts to the earlier of the two ends (real files often end their audio a few tenths
of a second before their video, and a window past the audio's end has no voice). The
clip's audio track is scanned once (:func:`toolkit.dataset.audio_coverage.scan_audio`), which also
tells a silent track from one with sound, and names each window speech, non-speech audio
(music, tones, noise) or silence with the trainer's one speech detector
(toolkit/voice/speech.py). All three train the audio; only speech is voice.

When a clip's audio cannot give voice to any window (no stream, undecodable, all silent,
or shorter than one window), its windows are planned on the video alone and the plan says
why they carry no voice (``audio_status`` and ``audio_problem``); the run trains them
video-only and counts them as items without voice, ``--check`` names them as problems.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.dataset.audio_coverage import SILENCE_DBFS, AudioCoverage, scan_audio
from toolkit.dataset.audio_status import AudioStatus
from toolkit.dataset.frames import MAX_WINDOWS_PER_CLIP, auto_frame_count, window_starts
from toolkit.errors import MediaError, NoAudioStream

#: The audio may end this much (s, at most 4 % of a window) before a window does: the
#: decoder zero-pads a span up to 5 % short, and AAC tracks often end one frame (~23 ms)
#: before the video.
AUDIO_END_SLACK_S = 0.02


@dataclass(frozen=True)
class ClipWindow:
    """One item of a file: its frame count and contiguous start (None: an image or a
    spread clip, whose frames cover ``span``)."""

    num_frames: int
    start_s: float | None
    index: int
    count: int
    variant: int = 0  # which set of window positions (see DatasetSpec.window_variants)
    variants: int = 1
    span: tuple[float, float] | None = None  # spread clips: the stretch the frames cover


@dataclass
class ClipPlan:
    """The windows of one file and the fate of their audio.

    ``audio_status`` is None when each window's audio is to be decoded (the clip speaks);
    otherwise every window carries no voice for the reason in ``audio_problem``:
    ``NO_STREAM``, ``FAILED`` (undecodable, or shorter than one window) or ``SILENT``.
    ``audio_problem`` does not repeat the file's path.
    """

    windows: list[ClipWindow]
    coverage: AudioCoverage | None = None
    audio_status: AudioStatus | None = None
    audio_problem: str | None = None
    audio_ends_early_s: float = 0.0  # how much earlier than the video the audio ends (s)
    # per window: "speech", "sound" or "silence" (toolkit/voice/speech.py); empty when the
    # clip's audio trains no window (audio_status is set) or audio is off
    kinds: list = field(default_factory=list)

    @property
    def audio_stream(self) -> int:
        """The audio stream the windows decode (the scan picks the one with sound)."""
        return self.coverage.stream if self.coverage is not None else 0


def window_seed(seed: int, path) -> int:
    """The seed of a clip's window positions: the run's seed and the file's path."""
    return int(hashlib.sha256(f"{seed}:{Path(path)}".encode()).hexdigest()[:8], 16)


def plan_clip(path, duration_s: float, has_audio: bool, *, num_frames: int, fps: float, spread: bool,
              auto_frames: bool, do_audio: bool, seed: int, max_windows: int = MAX_WINDOWS_PER_CLIP,
              window_variants: int = 1, keep_scan_in: Path | None = None) -> ClipPlan:
    """Plan the windows of one video file (``keep_scan_in``: a latent cache folder where the
    audio scan is kept, see :func:`toolkit.dataset.audio_coverage.scan_audio`).

    Raises:
        MediaError: the video is shorter than one window (the run skips the file).
    """
    plan = ClipPlan(windows=[])
    span = (0.0, duration_s)
    if do_audio:
        span = _audio_span(path, duration_s, has_audio, num_frames, fps, auto_frames, plan, keep_scan_in)
    start, end = span
    frames = num_frames
    if auto_frames:  # a short clip (or audio) gives the largest 8k+1 frames it holds
        frames = auto_frame_count(end - start, fps, max_frames=num_frames) or num_frames
    if spread:
        window_starts(end - start, frames, fps, random.Random(0), 1, path=path)  # raises when too short
        plan.windows = [ClipWindow(frames, None, 0, 1, span=(start, end))]
    else:
        plan.windows = _contiguous(path, start, end, frames, fps, seed, max_windows, window_variants)
    if plan.coverage is not None and plan.audio_status is None:
        plan.kinds = [plan.coverage.kind(w.span[0], w.span[1] - w.span[0]) if w.span
                      else plan.coverage.kind(w.start_s, w.num_frames / fps) for w in plan.windows]
    return plan


def plan_audio_file(path, *, num_frames: int, fps: float, auto_frames: bool, seed: int,
                    max_windows: int = MAX_WINDOWS_PER_CLIP, window_variants: int = 1,
                    keep_scan_in: Path | None = None) -> ClipPlan:
    """Plan the windows of an audio-only file (.wav, .flac, ...): the windows a clip of the
    same length would give, each ``num_frames / fps`` seconds long, placed where the track
    is, from the same seed. An audio file trains nothing without its voice, so an audio file
    without a stream, one that does not decode, a silent one or one shorter than one window
    raises.

    Raises:
        MediaError: the file cannot give one window with voice (the run skips it).
    """
    try:
        coverage = scan_audio(path, keep_scan_in)
    except NoAudioStream as exc:
        raise MediaError(path, f"an audio file without an audio stream ({exc.problem}); remove it") from exc
    shortest = (min(num_frames, 9) if auto_frames else num_frames) / fps
    if coverage.end_s - coverage.start_s < shortest - 1e-3:
        raise MediaError(path, f"the audio file is {coverage.end_s - coverage.start_s:.3f} s long, shorter than one "
                               f"window ({shortest:.3f} s: num_frames / fps); lower num_frames, use auto_frame_count, "
                               "or remove it")
    plan = plan_clip(path, coverage.end_s, True, num_frames=num_frames, fps=fps, spread=False,
                     auto_frames=auto_frames, do_audio=True, seed=seed, max_windows=max_windows,
                     window_variants=window_variants, keep_scan_in=keep_scan_in)
    if plan.audio_status is not None:
        raise MediaError(path, f"{plan.audio_problem}: an audio file trains only its voice, so a run skips it")
    return plan


def _contiguous(path, start: float, end: float, frames: int, fps: float, seed: int, max_windows: int,
                variants: int) -> list[ClipWindow]:
    sets: list[list[float]] = []
    base = window_seed(seed, path)
    for variant in range(max(1, variants)):
        rng = random.Random(base if variant == 0 else f"{base}:{variant}")
        starts = window_starts(end - start, frames, fps, rng, max_windows, path=path)
        if sets and starts == sets[0]:
            break  # no room to move: the clip is exactly its windows, one set is all there is
        sets.append(starts)
    return [ClipWindow(frames, start + offset, index, len(starts), variant, len(sets))
            for variant, starts in enumerate(sets) for index, offset in enumerate(starts)]


def _audio_span(path, duration_s: float, has_audio: bool, num_frames: int, fps: float, auto_frames: bool,
                plan: ClipPlan, keep_scan_in: Path | None) -> tuple[float, float]:
    """The span windows may use, and the plan's audio verdict when the clip has no voice."""
    if not has_audio:
        plan.audio_status, plan.audio_problem = AudioStatus.NO_STREAM, "has no audio stream"
        return 0.0, duration_s
    try:
        coverage = scan_audio(path, keep_scan_in)
    except NoAudioStream as exc:
        plan.audio_status, plan.audio_problem = AudioStatus.NO_STREAM, exc.problem
        return 0.0, duration_s
    except MediaError as exc:
        plan.audio_status, plan.audio_problem = AudioStatus.FAILED, exc.problem
        return 0.0, duration_s
    plan.coverage = coverage
    if coverage.silent:
        plan.audio_status = AudioStatus.SILENT
        track = "audio track is" if coverage.streams < 2 else f"{coverage.streams} audio streams are all"
        plan.audio_problem = (f"its {track} silent (loudest part {coverage.peak_dbfs:.0f} dBFS in its loudest "
                              f"channel, below {SILENCE_DBFS:.0f} dBFS)")
        return 0.0, duration_s
    window = num_frames / fps
    slack = min(AUDIO_END_SLACK_S, 0.04 * window)
    start = min(coverage.start_s, duration_s)
    end = min(duration_s, coverage.end_s + slack)
    plan.audio_ends_early_s = max(0.0, duration_s - coverage.end_s - slack)
    # auto_frame_count may shrink a window down to 9 frames (the shortest 8k+1 clip with
    # motion), not to a single frame: a still with 1/24 s of sound teaches no voice.
    needed = (min(num_frames, 9) if auto_frames else num_frames) / fps
    if end - start < needed - 1e-3:
        plan.audio_status = AudioStatus.FAILED
        shortest = (f"the shortest window auto_frame_count makes ({needed:.3f} s, {round(needed * fps)} frames "
                    f"at {fps:g} fps); re-export the clip with its full audio or remove it") if auto_frames else (
                    f"one {window:.3f} s window ({num_frames} frames at {fps:g} fps); lower num_frames, use "
                    "auto_frame_count, or re-export the clip with its full audio")
        plan.audio_problem = (f"its audio track covers only {max(0.0, coverage.end_s - start):.3f} s (from "
                              f"{start:.3f} s to {coverage.end_s:.3f} s) of its {duration_s:.3f} s video, less "
                              f"than {shortest}")
        return 0.0, duration_s
    return start, end

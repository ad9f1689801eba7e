"""Shot boundaries of a video, found from its decoded frames (PyAV).

Each frame is scaled by FFmpeg (through PyAV's reformatter) to a 64x36 RGB thumbnail; the
score of a frame is the mean absolute difference of its thumbnail from the previous one
(0-255). A cut is a frame whose score is at least ``threshold`` and at least ``ratio``
times the median score of the second before it: a fast pan or a moving object changes
every frame a little and raises that median, a cut changes one frame a lot. Shots shorter
than ``min_shot_s`` are merged into the previous one (flashes, a frame of black).

Why not PySceneDetect: its detectors need OpenCV (opencv-python, a ~60 MB wheel) for the
colour conversion and scaling, and on the test footage and the benchmark it found the same
cuts as this detector (bench/prepare_throughput.py and docs/benchmarks.md say how fast
each was); PyAV already decodes and scales here.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np

from toolkit.errors import MediaError
from toolkit.media.video_decode import timeline_origin_s

THUMB = (64, 36)
THRESHOLD = 30.0
RATIO = 3.0
MIN_SHOT_S = 0.5


@dataclass
class ShotScan:
    cuts_s: list[float]  # times (s from the file's origin) where a new shot starts
    duration_s: float  # end of the last frame
    frames: int


def detect_shots(path: Path, threshold: float = THRESHOLD, ratio: float = RATIO, min_shot_s: float = MIN_SHOT_S,
                 progress: Callable[[float], None] | None = None) -> ShotScan:
    """Scan every frame of ``path``'s first video stream; ``progress(seconds_done)`` is
    called now and then.

    Raises:
        MediaError: the video cannot be opened or decoded.
    """
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"cannot open the video ({exc})") from exc
    with container:
        if not container.streams.video:
            raise MediaError(path, "has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        origin = timeline_origin_s(container)
        rate = float(stream.average_rate or 24)
        recent: deque[float] = deque(maxlen=max(3, int(round(rate))))
        cuts: list[float] = []
        prev, end, count, last_report = None, 0.0, 0, 0.0
        try:
            for frame in container.decode(stream):
                t = (float(frame.pts * frame.time_base) - origin) if frame.pts is not None else count / rate
                thumb = frame.reformat(width=THUMB[0], height=THUMB[1], format="rgb24").to_ndarray().astype(np.int16)
                if prev is not None:
                    score = float(np.abs(thumb - prev).mean())
                    base = statistics.median(recent) if recent else 0.0
                    if score >= threshold and score >= ratio * base and (not cuts or t - cuts[-1] >= min_shot_s) \
                            and t >= min_shot_s:
                        cuts.append(round(t, 6))
                        recent.clear()
                    else:
                        recent.append(score)
                prev = thumb
                end = t + 1.0 / rate
                count += 1
                if progress is not None and t - last_report >= 10:
                    progress(t)
                    last_report = t
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"the video stops decoding at {end:.2f} s ({exc})") from exc
    if count == 0:
        raise MediaError(path, "its video stream has no frames")
    if cuts and end - cuts[-1] < min_shot_s:
        cuts.pop()
    return ShotScan(cuts, round(end, 6), count)


def shot_spans(scan: ShotScan) -> list[tuple[float, float]]:
    """(start, end) of each shot."""
    edges = [0.0, *scan.cuts_s, scan.duration_s]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]

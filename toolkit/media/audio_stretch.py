"""Change a waveform's duration without changing its pitch (FFmpeg's ``atempo``, via PyAV).

    time_stretch(wave [C, N] float32, sample_rate, tempo) -> [C, ~N / tempo]

Used when ``shrink_video_to_frames`` spreads a clip's frames over its whole length and the
audio has to fit the shorter training window: resampling would raise the voice's pitch by
the same factor (a 2 s clip in 0.7 s: x2.9); ``atempo`` keeps the pitch and only changes
the speed. PyAV bundles FFmpeg, so no system FFmpeg is needed. The factor is split into a
chain of ``atempo`` filters of 0.5-2 each: single factors above ~5 aborted the process in
PyAV 18's bundled FFmpeg, and the classic 0.5-2 range is also where atempo sounds best.
"""

from __future__ import annotations

import math
from fractions import Fraction

import av
import numpy as np

_ATEMPO_MIN, _ATEMPO_MAX = 0.5, 2.0
_LAYOUTS = {1: "mono", 2: "stereo"}


def _atempo_chain(tempo: float) -> list[float]:
    """Factors within atempo's range whose product is ``tempo``."""
    if not (math.isfinite(tempo) and tempo > 0):
        raise ValueError(f"tempo ({tempo}) must be a finite number > 0")
    chain = []
    while tempo > _ATEMPO_MAX:
        chain.append(_ATEMPO_MAX)
        tempo /= _ATEMPO_MAX
    while tempo < _ATEMPO_MIN:
        chain.append(_ATEMPO_MIN)
        tempo /= _ATEMPO_MIN
    chain.append(tempo)
    return chain


def time_stretch(wave: np.ndarray, sample_rate: int, tempo: float) -> np.ndarray:
    """Play ``wave`` ``tempo`` times faster (>1 shorter, <1 longer) at the same pitch.

    Args:
        wave: float32 ``[channels, samples]`` (1 or 2 channels).
        sample_rate: Hz, kept.
        tempo: speed factor; the result has about ``samples / tempo`` samples.

    Returns:
        float32 ``[channels, about samples / tempo]``.
    """
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    if wave.ndim != 2 or wave.shape[0] not in _LAYOUTS:
        raise ValueError(f"wave must be [1 or 2 channels, samples], got {wave.shape}")
    if abs(tempo - 1.0) < 1e-9 or wave.shape[1] == 0:
        return wave.copy()
    layout = _LAYOUTS[wave.shape[0]]
    time_base = Fraction(1, sample_rate)
    graph = av.filter.Graph()
    node = graph.add_abuffer(sample_rate=sample_rate, format="fltp", layout=layout, time_base=time_base)
    first = node
    for factor in _atempo_chain(tempo):
        nxt = graph.add("atempo", f"{factor:.9f}")
        node.link_to(nxt)
        node = nxt
    # atempo outputs packed samples; ask for planar float so channels come back as rows.
    fmt = graph.add("aformat", f"sample_fmts=fltp:channel_layouts={layout}")
    sink = graph.add("abuffersink")
    node.link_to(fmt)
    fmt.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout=layout)
    frame.sample_rate, frame.pts, frame.time_base = sample_rate, 0, time_base
    first.push(frame)
    first.push(None)
    pieces = []
    while True:
        try:
            out = sink.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            break  # drained: the graph was flushed by the None pushed above
        pieces.append(out.to_ndarray())
    if not pieces:
        return np.zeros((wave.shape[0], 0), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(pieces, axis=1), dtype=np.float32)

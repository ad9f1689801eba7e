"""Loudness of a waveform by EBU R128, and normalisation to a target, with FFmpeg's
``loudnorm`` filter run through PyAV's filter graph (no ffmpeg program needed).

loudnorm measures (integrated loudness, true peak, loudness range, gate threshold; it prints
them as JSON when it closes, which is read from FFmpeg's log); then FFmpeg's ``volume``
filter applies the one gain that brings the clip to the target, so the voice keeps its
dynamics. The gain stops short where the true peak would pass ``true_peak``. Why not
loudnorm's own second pass (``linear=true``): on clips of about 3 s, the length of its
analysis window, it switched to its dynamic mode (a compressor) even with the measured values
given (seen with FFmpeg 7 in PyAV 18: 2.9 s and 4 s linear, 3.0 s and 3.1 s dynamic).

Clipping is measured separately (:func:`clipping_share`): the share of samples within 0.2 dB
of full scale, where a recording that was driven too hard has its flattened tops.
"""

from __future__ import annotations

import gc
import json
from fractions import Fraction

import av
import av.error
import av.logging
import numpy as np

TARGET_LUFS = -23.0  # EBU R128 broadcast target
TRUE_PEAK = -1.5
LRA = 11.0  # loudnorm's range argument; only its measurement is used
CLIP_LEVEL = 0.977  # -0.2 dBFS
_LAYOUTS = {1: "mono", 2: "stereo"}


def clipping_share(wave: np.ndarray) -> float:
    """Share of samples at or above -0.2 dBFS."""
    return float(np.mean(np.abs(wave) >= CLIP_LEVEL)) if wave.size else 0.0


def _run(wave: np.ndarray, sample_rate: int, chain: list[tuple[str, str]]) -> tuple[np.ndarray, dict]:
    """Push ``wave`` ([C, N] float32) through the filters; (output, loudnorm's JSON report)."""
    layout = _LAYOUTS[wave.shape[0]]
    av.logging.set_level(av.logging.INFO)
    out: list[np.ndarray] = []
    try:
        with av.logging.Capture(local=False) as logs:
            graph = av.filter.Graph()
            nodes = [graph.add_abuffer(format="fltp", sample_rate=sample_rate, layout=layout,
                                       time_base=Fraction(1, sample_rate))]
            nodes += [graph.add(name, args) for name, args in chain]
            nodes.append(graph.add("aformat", f"sample_fmts=fltp:channel_layouts={layout}"))
            nodes.append(graph.add("abuffersink"))
            for a, b in zip(nodes, nodes[1:], strict=False):
                a.link_to(b)
            graph.configure()
            for pos in range(0, wave.shape[1], 4096):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, pos:pos + 4096]), format="fltp",
                                                   layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = sample_rate, pos, Fraction(1, sample_rate)
                graph.push(frame)
                out += _drain(graph)
            graph.push(None)
            out += _drain(graph, final=True)
            del graph, nodes, frame
            gc.collect()  # loudnorm writes its report when the graph is freed
    finally:
        av.logging.set_level(None)
    report = {}
    for _, name, text in logs:
        if name == "loudnorm" and "{" in text:
            report = json.loads(text[text.index("{"):text.rindex("}") + 1])
    joined = np.concatenate(out, axis=1) if out else np.zeros((wave.shape[0], 0), np.float32)
    return joined.astype(np.float32), report


def _drain(graph, final: bool = False) -> list[np.ndarray]:
    got = []
    while True:
        try:
            got.append(graph.pull().to_ndarray())
        except (av.error.BlockingIOError, av.error.EOFError):
            return got


def measure(wave: np.ndarray, sample_rate: int) -> dict:
    """loudnorm's first pass: ``input_i`` (LUFS), ``input_tp`` (dBTP), ``input_lra`` (LU),
    ``input_thresh`` (LUFS), as floats."""
    _, report = _run(wave, sample_rate, [("loudnorm", f"I={TARGET_LUFS}:TP={TRUE_PEAK}:LRA={LRA}:print_format=json")])
    return {k: float(report[k]) for k in ("input_i", "input_tp", "input_lra", "input_thresh")}


def normalize(wave: np.ndarray, sample_rate: int, target_lufs: float = TARGET_LUFS,
              true_peak: float = TRUE_PEAK) -> tuple[np.ndarray, dict]:
    """``wave`` ([C, N]) brought to ``target_lufs`` by one gain: (the same length at the same
    rate, a report with the measured input loudness, the gain and the normalisation type).
    The gain stops where the true peak would pass ``true_peak`` ("peak-limited"); audio too
    quiet to measure (silence) is returned unchanged."""
    first = measure(wave, sample_rate)
    if not np.isfinite(first["input_i"]) or first["input_i"] < -70:
        return wave, {"input_i": first["input_i"], "gain_db": 0.0, "normalization_type": "none (silent)"}
    gain = target_lufs - first["input_i"]
    kind = "linear"
    if first["input_tp"] + gain > true_peak:
        gain, kind = true_peak - first["input_tp"], "linear, peak-limited"
    out, _ = _run(wave, sample_rate, [("volume", f"{gain:.3f}dB")])
    n = wave.shape[1]
    out = out[:, :n] if out.shape[1] >= n else np.pad(out, ((0, 0), (0, n - out.shape[1])))
    return out.astype(np.float32), {"input_i": first["input_i"], "input_tp": first["input_tp"],
                                    "gain_db": round(gain, 2), "output_i": round(first["input_i"] + gain, 2),
                                    "normalization_type": kind}

"""Decode the audio track of a media file into a 16 kHz stereo waveform.

The one entry point is :func:`decode_audio`. It returns a float32 tensor shaped
``[2, N]`` (channels, samples) with values in about [-1, 1], at ``sample_rate`` Hz
(16 kHz for LTX-2, see docs: mono is duplicated, 5.1/7.1 are downmixed).

Why this file exists (SOP root causes 21 and 23): a single decoder that failed quietly
made every clip silent. Here every failure is loud:

* a file with no audio stream raises :class:`toolkit.errors.NoAudioStream`;
* a file whose audio cannot be decoded raises :class:`toolkit.errors.MediaError`
  naming the file and the error of *each* decoder that was tried;
* a span that comes back more than 5 % short raises too (a few ms at the end are
  zero-padded: containers often end the audio a frame early).

Decoders, in order (see :func:`audio_decoders_available`):

1. ``pyav``: PyAV with its bundled FFmpeg libraries (works on Windows without a
   system FFmpeg).
2. ``ffmpeg-cli``: the ``ffmpeg`` program when it is on PATH; raw float32 little-endian
   samples are piped from its stdout, no temporary files.

torchaudio is never used (its loader needs system FFmpeg libraries: root cause 21).

Timeline: ``start_s`` is measured in seconds from the start of the file (the
container's ``start_time``, normally 0), on the same clock as the video frames
returned by :func:`toolkit.media.video_decode.decode_frames`. The span is placed with
the decoded frames' presentation timestamps, so AAC/Opus priming samples (which the
decoder drops) do not shift the audio, and AAC end padding is cut off.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import av
import av.error
import numpy as np
import torch

from toolkit.errors import MediaError, NoAudioStream
from toolkit.media.video_decode import check_media_file, timeline_origin_s

#: File extensions (lower case, no dot) of audio-only dataset files: they train the voice
#: alone (docs/datasets.md, "Audio files").
AUDIO_EXTENSIONS = ("wav", "flac", "mp3", "m4a", "ogg", "opus")
#: Peak value after ``normalize=True``.
NORMALIZE_PEAK = 0.95
#: Below this peak a signal counts as silence and is not amplified by ``normalize``.
SILENCE_PEAK = 1e-4
#: A requested span may come back this much short (fraction of the requested samples)
#: and be zero-padded; more than that is an error.
MAX_SHORT_FRACTION = 0.05
#: How far before ``start_s`` decoding starts after a seek (s). The decoder needs a
#: frame or two of history (AAC overlap), and the resampler a few ms of context.
_SEEK_MARGIN_S = 0.5
#: How far past the end of the span decoding continues (s), so the resampler's
#: delayed output covers the last samples of the span.
_TAIL_MARGIN_S = 0.1


def audio_decoders_available() -> list[str]:
    """Names of the audio decoders that can run here, in the order they are tried.

    ``"pyav"`` always (PyAV is a requirement and bundles its own FFmpeg), then
    ``"ffmpeg-cli"`` when the ``ffmpeg`` program is on PATH.
    """
    names = ["pyav"]
    if shutil.which("ffmpeg"):
        names.append("ffmpeg-cli")
    return names


def decode_audio(
    path: str | os.PathLike,
    start_s: float = 0.0,
    duration_s: float | None = None,
    *,
    sample_rate: int = 16000,
    normalize: bool = False,
    stream: int = 0,
) -> torch.Tensor:
    """Decode ``[start_s, start_s + duration_s)`` of an audio stream of ``path`` (the first
    unless ``stream`` says which: see :func:`toolkit.dataset.audio_coverage.scan_audio`, which picks
    the stream that carries sound).

    Args:
        path: audio or video file (any container/codec FFmpeg reads).
        start_s: start of the span in seconds from the start of the file (>= 0).
        duration_s: length of the span in seconds (> 0), or None for the rest of the
            stream.
        sample_rate: output rate in Hz (16000 for LTX-2).
        normalize: scale so the peak is 0.95 (a silent span stays silent).
        stream: which audio stream, counted among the file's audio streams from 0.

    Returns:
        float32 tensor ``[2, N]``: stereo at ``sample_rate``. With ``duration_s``,
        ``N == round(duration_s * sample_rate)`` exactly (a short end is zero-padded,
        up to 5 % of N); without it, N covers the stream from ``start_s`` to its end.
        Peak <= 1.0: a louder result (e.g. a 5.1 downmix) is scaled back to 1.0.

    Raises:
        NoAudioStream: the file has no audio stream.
        MediaError: the file is missing/empty, no decoder could decode it (the message
            lists each decoder's error), the span is more than 5 % short, or ``stream``
            is not one of its audio streams.
    """
    path = Path(path)
    _check_args(path, start_s, duration_s, sample_rate)
    if int(stream) != stream or stream < 0:
        raise MediaError(path, f"stream ({stream}) must be a whole number >= 0")
    check_media_file(path)
    decoders = audio_decoders_available()
    errors: list[str] = []
    for name in decoders:
        try:
            wave = _DECODERS[name](path, start_s, duration_s, sample_rate, int(stream))
            wave = _fit_length(path, wave, duration_s, sample_rate)
        except NoAudioStream:
            raise
        except MediaError as exc:
            errors.append(f"[{name}] {exc.problem}")
            continue
        if normalize:
            wave = peak_normalize(wave)
        else:
            wave = _limit_peak(wave)
        return torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    raise MediaError(
        path,
        "could not decode the audio with any decoder: "
        + "; ".join(errors)
        + ". Check that the file plays with sound in a media player; re-encode it "
        "(e.g. `ffmpeg -i IN -c:v copy -c:a aac OUT.mp4`) or remove it from the dataset.",
    )


def peak_normalize(wave: np.ndarray, peak: float = NORMALIZE_PEAK) -> np.ndarray:
    """Scale ``wave`` (any shape, float) so ``max|wave| == peak``.

    A wave whose peak is below :data:`SILENCE_PEAK` is returned unchanged (silence and
    near-silence are not blown up into noise).
    """
    current = float(np.max(np.abs(wave))) if wave.size else 0.0
    if current < SILENCE_PEAK:
        return wave
    return (wave * (peak / current)).astype(np.float32)


def _limit_peak(wave: np.ndarray) -> np.ndarray:
    """Scale ``wave`` down to peak 1.0 when it exceeds full scale, else return it.

    A 5.1/7.1 downmix (FFmpeg's default matrix: L = FL + 0.707·FC + 0.707·SL) or a float
    source can exceed 1.0; scaling keeps the waveform undistorted, clipping would not.
    """
    current = float(np.max(np.abs(wave))) if wave.size else 0.0
    return (wave / current).astype(np.float32) if current > 1.0 else wave


# --------------------------------------------------------------------------- checks


def _check_args(path: Path, start_s: float, duration_s: float | None, sample_rate: int) -> None:
    if not math.isfinite(start_s) or start_s < 0:
        raise MediaError(path, f"start_s ({start_s}) must be a finite number >= 0")
    if duration_s is not None and (not math.isfinite(duration_s) or duration_s <= 0):
        raise MediaError(path, f"duration_s ({duration_s}) must be a finite number > 0 or None")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise MediaError(path, f"sample_rate ({sample_rate}) must be a positive integer")


def _fit_length(
    path: Path, wave: np.ndarray, duration_s: float | None, sample_rate: int
) -> np.ndarray:
    """Check a decoder's ``[2, n]`` output and pad/trim it to the requested length."""
    if wave.ndim != 2 or wave.shape[0] != 2:
        raise MediaError(path, f"decoder returned shape {wave.shape}, expected [2, N]")
    if not np.all(np.isfinite(wave)):
        raise MediaError(path, "decoded audio contains NaN or infinite samples")
    if duration_s is None:
        if wave.shape[1] == 0:
            raise MediaError(path, "the audio stream decoded to 0 samples from the requested start")
        return wave
    want = int(round(duration_s * sample_rate))
    have = wave.shape[1]
    if have >= want:
        return wave[:, :want]
    missing = want - have
    if missing > MAX_SHORT_FRACTION * want:
        raise MediaError(
            path,
            f"the audio covers only {have / sample_rate:.3f} s of the requested "
            f"{want / sample_rate:.3f} s span (more than {MAX_SHORT_FRACTION:.0%} short); "
            "the file may be truncated or its audio shorter than its video",
        )
    return np.pad(wave, ((0, 0), (0, missing)))


# --------------------------------------------------------------------------- PyAV


def _decode_pyav(path: Path, start_s: float, duration_s: float | None, sample_rate: int,
                 stream: int = 0) -> np.ndarray:
    """PyAV decoder: returns float32 ``[2, n]`` at ``sample_rate`` starting at ``start_s``.

    Samples are placed on the timeline by the resampled frames' pts; gaps in the stream
    stay zero, and missing coverage is left for :func:`_fit_length` to judge.
    """
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"PyAV could not open the file ({exc})") from exc
    try:
        with container:
            if not container.streams.audio:
                raise NoAudioStream(
                    path,
                    "has no audio stream. Add the character's voice to this clip, or set "
                    "do_audio: false for a video-only dataset",
                )
            if stream >= len(container.streams.audio):
                raise MediaError(path, f"has {len(container.streams.audio)} audio stream(s), no stream "
                                       f"#{stream + 1}")
            return _decode_pyav_stream(path, container, container.streams.audio[stream], start_s, duration_s,
                                       sample_rate)
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"PyAV failed while decoding audio ({exc})") from exc
    except ValueError as exc:  # PyAV raises ValueError for resampler format changes
        raise MediaError(path, f"PyAV failed while decoding audio ({exc})") from exc


def _decode_pyav_stream(container_path: Path, container, stream, start_s, duration_s, sample_rate):
    origin = timeline_origin_s(container)
    t_start = origin + start_s  # absolute time of output sample 0 (s)
    t_end = math.inf if duration_s is None else t_start + duration_s
    stream_end = _stream_end_s(container, stream)
    if stream_end is not None:
        t_end = min(t_end, stream_end)  # past it is encoder padding, not content
    if t_start >= t_end:
        raise MediaError(
            container_path,
            f"start_s ({start_s:.3f} s) is at or past the end of the audio ({t_end - origin:.3f} s)",
        )

    first_index = int(round(t_start * sample_rate))  # absolute sample index of output 0
    last_index = None if math.isinf(t_end) else int(round(t_end * sample_rate))
    seek = start_s > _SEEK_MARGIN_S
    pieces = _decode_pieces(container, stream, t_start, t_end, first_index, last_index, sample_rate, seek)
    stream_start = float(stream.start_time * stream.time_base) if stream.start_time is not None else origin
    late = not pieces or pieces[0][0] > first_index + sample_rate // 1000
    if seek and late and stream_start < t_start:
        # The seek landed after the span's start (a poor index): decode from the top.
        container.seek(0, backward=True, any_frame=False)
        pieces = _decode_pieces(container, stream, t_start, t_end, first_index, last_index, sample_rate, False)
    return _assemble(pieces, first_index, last_index)


def _decode_pieces(container, stream, t_start, t_end, first_index, last_index, sample_rate, seek):
    """Decode and resample; returns ``(absolute sample index, [2, n])`` pieces of the span."""
    if seek:
        seek_to = t_start - _SEEK_MARGIN_S
        container.seek(int(seek_to / stream.time_base), stream=stream, backward=True, any_frame=False)
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sample_rate)
    pieces: list[tuple[int, np.ndarray]] = []
    next_pts = None  # expected pts of the next input frame, in stream time base

    def keep(out_frames) -> None:
        for out in out_frames:
            if out.pts is not None:
                index = int(round(out.pts * out.time_base * sample_rate))
            else:
                index = pieces[-1][0] + pieces[-1][1].shape[1] if pieces else first_index
            data = out.to_ndarray()
            if index + data.shape[1] <= first_index:
                continue
            if last_index is not None and index >= last_index:
                continue
            pieces.append((index, data))

    for frame in container.decode(stream):
        if frame.pts is None and next_pts is not None:
            frame.pts = next_pts
        if frame.pts is not None:
            frame_t = float(frame.pts * frame.time_base)
            next_pts = frame.pts + int(round(frame.samples / frame.sample_rate / frame.time_base))
            if frame_t > t_end + _TAIL_MARGIN_S:
                break
        keep(resampler.resample(frame))
    keep(resampler.resample(None))
    return pieces


def _stream_end_s(container, stream) -> float | None:
    """Absolute end time (s) of the audio stream: its duration, else the container's."""
    if stream.duration is not None and stream.time_base is not None:
        start = stream.start_time if stream.start_time is not None else 0
        return float((start + stream.duration) * stream.time_base)
    if container.duration is not None:
        return (container.start_time or 0) / 1e6 + container.duration / 1e6
    return None


def _assemble(pieces: list[tuple[int, np.ndarray]], first_index: int, last_index: int | None) -> np.ndarray:
    """Lay ``(absolute_index, [2, n])`` pieces on one ``[2, n]`` array from ``first_index``.

    Gaps stay zero. The array ends at the last covered sample (or ``last_index``).
    """
    if not pieces:
        return np.zeros((2, 0), np.float32)
    end = max(index + data.shape[1] for index, data in pieces)
    if last_index is not None:
        end = min(end, last_index)
    out = np.zeros((2, max(0, end - first_index)), np.float32)
    for index, data in pieces:
        lo = max(index, first_index)
        hi = min(index + data.shape[1], end)
        if hi > lo:
            out[:, lo - first_index : hi - first_index] = data[:, lo - index : hi - index]
    return out


# --------------------------------------------------------------------------- ffmpeg CLI


def _decode_ffmpeg_cli(path: Path, start_s: float, duration_s: float | None, sample_rate: int,
                       stream: int = 0) -> np.ndarray:
    """``ffmpeg`` program decoder: returns float32 ``[2, n]`` at ``sample_rate``.

    Input seeking (``-ss`` before ``-i``) is sample-accurate when transcoding, and is
    relative to the file's start time, like the PyAV path. ``aresample=async=1:
    first_pts=0`` fills a late-starting or gappy stream with silence so samples stay
    on the timeline.
    """
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise MediaError(path, "`ffmpeg` is not on PATH")
    # ffmpeg's -ss counts from the file's start_time; our origin is max(0, start_time)
    # (a negative start_time is encoder priming, see video_decode.timeline_origin_s).
    # ffprobe (shipped with ffmpeg) tells us both, and where the audio stream ends.
    file_start, audio_end = _ffprobe_times(path, stream)
    origin = max(0.0, file_start)
    seek_s = start_s + origin - file_start
    if duration_s is None and audio_end is not None:
        if audio_end - origin <= start_s:
            raise MediaError(path, f"start_s ({start_s:.3f} s) is at or past the end of the audio")
        # Stop at the stream's declared end: past it is encoder padding, not content.
        duration_s = audio_end - origin - start_s
    cmd = [exe, "-nostdin", "-hide_banner", "-v", "error"]
    if seek_s > 0:
        cmd += ["-ss", f"{seek_s:.6f}"]
    cmd += ["-i", str(path)]
    if duration_s is not None:
        cmd += ["-t", f"{duration_s:.6f}"]
    cmd += [
        "-map", f"0:a:{stream}", "-vn", "-sn", "-dn",
        "-af", f"aresample={sample_rate}:async=1:first_pts=0",
        "-ac", "2", "-ar", str(sample_rate),
        "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    timeout = 600 if duration_s is None else 120 + 10 * duration_s
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(path, f"ffmpeg did not finish within {timeout:.0f} s") from exc
    except OSError as exc:
        raise MediaError(path, f"could not run ffmpeg ({exc})") from exc
    stderr = proc.stderr.decode("utf-8", errors="replace").strip()
    if proc.returncode != 0:
        if "matches no streams" in stderr and stream > 0:
            raise MediaError(path, f"has no audio stream #{stream + 1}")
        if "matches no streams" in stderr:
            raise NoAudioStream(
                path,
                "has no audio stream. Add the character's voice to this clip, or set "
                "do_audio: false for a video-only dataset",
            )
        tail = " | ".join(stderr.splitlines()[-3:]) or f"exit code {proc.returncode}"
        raise MediaError(path, f"ffmpeg failed ({tail})")
    data = np.frombuffer(proc.stdout, dtype="<f4")
    usable = data.size - data.size % 2
    return data[:usable].reshape(-1, 2).T.astype(np.float32)


def _ffprobe_times(path: Path, stream: int = 0) -> tuple[float, float | None]:
    """``(container start time, audio stream end)`` in seconds according to ``ffprobe``.

    The start is 0.0 and the end None when ffprobe is missing or does not know them;
    both are hints only (the decode itself reports a broken file).
    """
    exe = shutil.which("ffprobe")
    if exe is None:
        return 0.0, None
    cmd = [exe, "-v", "error", "-select_streams", f"a:{stream}", "-show_entries",
           "format=start_time:stream=start_time,duration", "-of", "json", str(path)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        info = json.loads(proc.stdout.decode("utf-8", errors="replace") or "{}")
    except (subprocess.TimeoutExpired, OSError, ValueError):
        return 0.0, None  # no hints; the decode itself reports a broken file or ffmpeg

    def number(mapping, key) -> float | None:
        try:
            value = float(mapping.get(key))
        except (TypeError, ValueError):
            return None  # absent or "N/A"
        return value if math.isfinite(value) else None

    start = number(info.get("format", {}), "start_time") or 0.0
    streams = info.get("streams") or [{}]
    duration = number(streams[0], "duration")
    end = None if duration is None else (number(streams[0], "start_time") or 0.0) + duration
    return start, end


#: Decoder registry: name -> function(path, start_s, duration_s, sample_rate, stream) -> [2, n].
_DECODERS: dict[str, Callable[[Path, float, float | None, int, int], np.ndarray]] = {
    "pyav": _decode_pyav,
    "ffmpeg-cli": _decode_ffmpeg_cli,
}

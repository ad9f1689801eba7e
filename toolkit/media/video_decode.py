"""Probe media files and decode video frames and still images (PyAV and Pillow).

* :func:`probe_media` -> :class:`MediaInfo`: size, frame rate, length and audio facts,
  read cheaply (headers plus the first video frame, which also proves the file
  decodes).
* :func:`decode_frames` -> uint8 ``[F, H, W, 3]`` (RGB): the frames shown at the
  requested times, in one sequential decode pass (works for variable frame rate).
* :func:`load_image` -> uint8 ``[H, W, 3]`` (RGB): EXIF orientation applied, alpha
  composited onto white, greyscale/palette/16-bit converted.

Timeline: times are seconds from the start of the file, i.e. from
:func:`timeline_origin_s` (the container's start time, or 0 when it is negative, which
is how some demuxers expose encoder priming). The audio decoder uses the same origin,
so frame times and audio spans line up.

Display geometry: frames are returned as a player shows them, and ``MediaInfo`` reports
that displayed width and height. Anamorphic video stores pixels that are not square (a
sample aspect ratio, SAR: 192x144 stored at SAR 4:3 is shown 256x144, 16:9): frames are
stretched to square pixels first (the width times the SAR). Phone videos store portrait
clips as landscape frames plus a display rotation: frames are then rotated. Bucketing,
training and ``--check`` all see the displayed shape, so nothing trains squeezed or on
its side.

Every failure raises :class:`toolkit.errors.MediaError` naming the file and saying what
to do.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import av.error
import numpy as np
import torch
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageOps

from toolkit.errors import MediaError
from toolkit.media.display import display_size, rotation_k, sample_aspect_ratio
from toolkit.media.file_kind import not_a_file

#: File extensions (lower case, no dot) read as videos.
VIDEO_EXTENSIONS = ("mp4", "mov", "webm", "mkv", "avi", "m4v")
#: File extensions (lower case, no dot) read as still images.
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp")

#: Times within this many seconds of a frame's start count as inside that frame
#: (float times vs. rational pts).
_TIME_EPS = 1e-6

_REENCODE_HINT = (
    "re-encode it (e.g. `ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p -c:a aac OUT.mp4`) "
    "or remove it from the dataset folder"
)


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe_media` learns about a file.

    Attributes:
        kind: ``"video"`` or ``"image"``.
        width, height: displayed size in pixels (after rotation / EXIF orientation).
        fps: average frame rate in frames/s (0.0 for images).
        num_frames: frame count (from the header when present, else duration × fps;
            an estimate for variable frame rate; 1 for images).
        duration_s: length of the video stream in seconds from the file's origin
            (0.0 for images).
        has_audio: the file has at least one audio stream.
        audio_sample_rate: Hz of the first audio stream, or None.
        audio_channels: channel count of the first audio stream, or None.
        audio_codec: codec name of the first audio stream (e.g. ``"aac"``), or None.
    """

    kind: str
    width: int
    height: int
    fps: float
    num_frames: int
    duration_s: float
    has_audio: bool
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    audio_codec: str | None = None


def is_image_path(path: str | os.PathLike) -> bool:
    """True when the file extension is one of :data:`IMAGE_EXTENSIONS`."""
    return Path(path).suffix.lower().lstrip(".") in IMAGE_EXTENSIONS


def timeline_origin_s(container) -> float:
    """Time (s) that counts as 0 in an open PyAV container: ``max(0, start_time)``."""
    if container.start_time is None:
        return 0.0
    return max(0.0, container.start_time / 1e6)


def check_media_file(path: Path) -> None:
    """Raise MediaError when ``path`` is missing, not a file (a folder, a link that loops or
    points nowhere, a pipe: the message says which), or empty."""
    problem = not_a_file(path)
    if problem is not None:
        raise MediaError(path, problem)
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty (0 bytes); re-export it or remove it from the dataset folder")


# --------------------------------------------------------------------------- probe


def probe_media(path: str | os.PathLike) -> MediaInfo:
    """Describe an image or video file (see :class:`MediaInfo`).

    Raises:
        MediaError: missing, empty, corrupt, truncated (no index) or unsupported file,
            or a video file without a video stream.
    """
    path = Path(path)
    check_media_file(path)
    if is_image_path(path):
        image = load_image(path)
        return MediaInfo("image", int(image.shape[1]), int(image.shape[0]), 0.0, 1, 0.0, False)
    container = _open(path)
    with container:
        try:
            return _probe_video(path, container)
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"cannot be decoded as video ({exc}); {_REENCODE_HINT}") from exc


def _probe_video(path: Path, container) -> MediaInfo:
    if not container.streams.video:
        what = "only audio" if container.streams.audio else "no video stream"
        raise MediaError(path, f"has {what}; a video dataset needs a video stream: {_REENCODE_HINT}")
    stream = container.streams.video[0]
    origin = timeline_origin_s(container)
    first = next(container.decode(stream), None)
    if first is None:
        raise MediaError(path, f"the video stream holds no decodable frame; {_REENCODE_HINT}")
    width, height = display_size(stream, first.width, first.height)
    if rotation_k(first) % 2:
        width, height = height, width

    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        start = stream.start_time if stream.start_time is not None else 0
        duration = float((start + stream.duration) * stream.time_base) - origin
    elif container.duration is not None:
        duration = (container.start_time or 0) / 1e6 + container.duration / 1e6 - origin
    if stream.frames and stream.frames > 0:
        num_frames = int(stream.frames)
        if duration is None and fps > 0:
            duration = num_frames / fps
    elif duration is not None and fps > 0:
        num_frames = max(1, int(round(duration * fps)))
    else:
        raise MediaError(path, f"neither the frame rate nor the duration can be read; {_REENCODE_HINT}")
    if fps <= 0 and duration:
        fps = num_frames / duration

    audio = container.streams.audio[0] if container.streams.audio else None
    return MediaInfo(
        kind="video",
        width=int(width),
        height=int(height),
        fps=fps,
        num_frames=num_frames,
        duration_s=max(0.0, float(duration)),
        has_audio=audio is not None,
        audio_sample_rate=int(audio.codec_context.sample_rate) if audio is not None else None,
        audio_channels=int(audio.codec_context.channels) if audio is not None else None,
        audio_codec=audio.codec_context.name if audio is not None else None,
    )


def demuxed_video_end_s(path: str | os.PathLike) -> float | None:
    """Where the first video stream's packets really end (s from the file's origin), read
    without decoding: the last packet's end. A file cut short (an upload that stopped) keeps
    its header's duration but not the packets; None when no packet is found."""
    path = Path(path)
    container = _open(path)
    with container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        origin = timeline_origin_s(container)
        end = None
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    stop = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    end = stop if end is None else max(end, stop)
        except av.error.FFmpegError:
            pass  # a damaged tail: the packets read so far say where the video ends
    return None if end is None else end - origin


def pixel_aspect(path: str | os.PathLike) -> float:
    """The sample aspect ratio of a video file's first video stream: 1.0 for square pixels,
    an image, or a file PyAV cannot open (memoised per file version in this process)."""
    path = Path(path).resolve()
    stat = path.stat()
    return _pixel_aspect(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _pixel_aspect(path: str, size: int, mtime_ns: int) -> float:
    if is_image_path(path):
        return 1.0
    try:
        with av.open(path) as container:
            return sample_aspect_ratio(container.streams.video[0]) if container.streams.video else 1.0
    except av.error.FFmpegError:
        return 1.0  # probing reports the file itself


def _open(path: Path):
    try:
        return av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(
            path,
            f"cannot be opened as media ({exc}); the file may be corrupt, truncated or in an "
            f"unsupported format: {_REENCODE_HINT}",
        ) from exc


# --------------------------------------------------------------------------- frames


def decode_frames(path: str | os.PathLike, times_s: Sequence[float]) -> torch.Tensor:
    """Decode the frames shown at ``times_s`` (seconds from the file's origin).

    For each time, the frame whose presentation interval ``[pts_k, pts_k+1)`` contains
    it is returned (a time before the first frame gets the first frame; a time up to
    one frame duration after the last frame's start gets the last frame). Times may be
    in any order and repeat. The file is decoded once, sequentially, after one seek to
    the keyframe before the earliest time.

    Returns:
        uint8 tensor ``[F, H, W, 3]`` (RGB, displayed orientation), F = len(times_s).

    Raises:
        MediaError: unreadable file, or a time past the end of the video stream.
    """
    path = Path(path)
    times = [float(t) for t in times_s]
    if not times:
        raise MediaError(path, "decode_frames needs at least one time")
    bad = [t for t in times if not math.isfinite(t) or t < 0]
    if bad:
        raise MediaError(path, f"frame times must be finite and >= 0, got {bad[:3]}")
    check_media_file(path)
    container = _open(path)
    with container:
        if not container.streams.video:
            raise MediaError(path, f"has no video stream; {_REENCODE_HINT}")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            picked = _pick_frames(path, container, stream, times, seek=True)
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"video decoding failed ({exc}); {_REENCODE_HINT}") from exc
    return torch.from_numpy(np.stack(picked))


def _pick_frames(path: Path, container, stream, times: list[float], seek: bool) -> list[np.ndarray]:
    """One decode pass; returns one ``[H, W, 3]`` array per entry of ``times``."""
    origin = timeline_origin_s(container)
    order = sorted(range(len(times)), key=times.__getitem__)
    tb = stream.time_base
    rate = stream.average_rate or stream.guessed_rate
    default_dur = 1.0 / float(rate) if rate else 1.0 / 24.0
    first_abs = origin + times[order[0]]
    seeked = False
    if seek and times[order[0]] > 1.0 and tb is not None:
        container.seek(int(first_abs / tb), stream=stream, backward=True, any_frame=False)
        seeked = True

    out: list[np.ndarray | None] = [None] * len(times)
    pos = 0  # next entry of `order` to fill
    prev = None  # (frame, start_s, index) of the previous decoded frame
    cache: dict[int, np.ndarray] = {}  # decode index -> RGB array (the latest only)
    size: tuple[int, int] | None = None
    reformatter = VideoReformatter()

    def rgb(frame, index: int) -> np.ndarray:
        nonlocal size
        if index not in cache:
            cache.clear()
            if size is None:
                size = display_size(stream, frame.width, frame.height)
            # One reformatter for the pass: it keeps its swscale context (a fresh one per
            # frame costs ~4 ms). A size change mid-stream is scaled to the first size, and
            # non-square pixels to square ones (display_size).
            array = reformatter.reformat(frame, format="rgb24", width=size[0], height=size[1]).to_ndarray()
            cache[index] = np.ascontiguousarray(np.rot90(array, rotation_k(frame)))
        return cache[index]

    for index, frame in enumerate(container.decode(stream)):
        if frame.pts is not None and tb is not None:
            start = float(Fraction(frame.pts) * tb) - origin
        elif prev is not None:
            start = prev[1] + _frame_duration(prev[0], tb, default_dur)
        else:
            start = 0.0
        if prev is None and seeked and start > times[order[0]] + _TIME_EPS:
            # The index sent us past the first time: decode from the beginning instead.
            container.seek(0, stream=stream, backward=True, any_frame=False)
            return _pick_frames(path, container, stream, times, seek=False)
        while pos < len(order) and times[order[pos]] < start - _TIME_EPS:
            out[order[pos]] = rgb(*(prev[::2] if prev is not None else (frame, index)))
            pos += 1
        prev = (frame, start, index)
        if pos == len(order):
            break

    if prev is None:
        raise MediaError(path, f"the video stream holds no decodable frame; {_REENCODE_HINT}")
    last_frame, last_start, last_index = prev
    last_end = last_start + _frame_duration(last_frame, tb, default_dur)
    while pos < len(order):
        t = times[order[pos]]
        if t >= last_end - _TIME_EPS and t > last_start + _TIME_EPS:
            raise MediaError(
                path,
                f"no frame at {t:.3f} s: the video ends at {last_end:.3f} s (the file may be "
                "truncated, or its header promises more than it holds); use a shorter "
                f"window or {_REENCODE_HINT}",
            )
        out[order[pos]] = rgb(last_frame, last_index)
        pos += 1
    return out  # type: ignore[return-value]


def _frame_duration(frame, tb, default_dur: float) -> float:
    duration = getattr(frame, "duration", None)
    if duration and tb is not None:
        return float(duration * tb)
    return default_dur


# --------------------------------------------------------------------------- images


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Load a still image as RGB.

    EXIF orientation is applied; transparent images are composited onto white;
    greyscale, palette, CMYK and 16-bit images are converted to 8-bit RGB.

    Returns:
        uint8 tensor ``[H, W, 3]``.

    Raises:
        MediaError: missing, empty, corrupt, truncated or unsupported image.
    """
    path = Path(path)
    check_media_file(path)
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            array = _to_rgb(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MediaError(
            path,
            f"cannot be read as an image ({exc}); re-save it as PNG or JPEG or remove it "
            "from the dataset folder",
        ) from exc
    return torch.from_numpy(np.ascontiguousarray(array))


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> uint8 ``[H, W, 3]``."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(image, dtype=np.int64)
        peak = 65535 if image.mode.startswith("I;16") or wide.max(initial=0) > 255 else 255
        grey = np.clip(wide * 255 // peak, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.array(image.convert("RGB"), dtype=np.uint8)  # a writable copy

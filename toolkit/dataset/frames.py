"""Frame windows, resolution buckets and pixel transforms (pure functions).

* :func:`choose_window`: which instants of a clip become the training frames.
  Default: a contiguous window of ``num_frames`` frames ``1/fps`` s apart from a random
  start, so the matching audio span plays at its natural speed and pitch.
  ``spread=True`` (ai-toolkit's ``shrink_video_to_frames``) spreads the frames over the
  whole clip: motion and voice are time-compressed (the caller warns with
  :func:`spread_audio_warning`).
* :func:`window_starts`: where the several non-overlapping windows of a long clip start.
* :func:`auto_frame_count`: the largest valid LTX-2 frame count (8k+1) a clip holds.
* :func:`choose_bucket`: a training size (multiples of 32) near ``resolution²`` pixels
  with the aspect ratio closest to the source.
* :func:`resize_and_crop`, :func:`flip_x`, :func:`flip_y`: pixel transforms.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from toolkit.errors import MediaError


def spread_audio_warning(num_frames: int, preserve_pitch: bool) -> str:
    """What spreading frames over whole clips does to their audio (one wording for the run's
    start-up warning and `--check`)."""
    how = ("time-stretched at its own pitch (audio_preserve_pitch)" if preserve_pitch
           else "resampled, which raises the voice's pitch (audio_preserve_pitch: false)")
    return (f"shrink_video_to_frames spreads {num_frames} frames over whole clips (shrink_video_with_audio); "
            f"their audio is squeezed into the window and {how}: the voice speeds up. Leave it off to train "
            "the voice at its natural speed")


#: LTX-2's VAE works on multiples of 32 pixels.
BUCKET_MULTIPLE = 32
#: A clip may be this much shorter (s) than the window and still count as long enough
#: (container durations are rounded to the ms).
_DURATION_SLACK_S = 1e-3
#: Most windows one long clip gives (see :func:`window_starts`).
MAX_WINDOWS_PER_CLIP = 8


@dataclass(frozen=True)
class FrameWindow:
    """The instants to sample from one clip.

    Attributes:
        times_s: one time per training frame (seconds from the clip's start), ascending.
        start_s: start of the span the frames represent (s).
        duration_s: length of that span (s): ``num_frames / fps`` for a contiguous
            window, the clip's duration when spread.
    """

    times_s: list[float]
    start_s: float
    duration_s: float


def choose_window(
    clip_duration_s: float,
    num_frames: int,
    fps: float,
    rng: random.Random,
    spread: bool = False,
    *,
    path=None,
    start_s: float | None = None,
) -> FrameWindow:
    """Pick the times of ``num_frames`` training frames in a clip.

    Contiguous (default): ``times[i] = start + i / fps`` with ``start`` uniform in
    ``[0, clip_duration_s - num_frames / fps]``; the span is ``[start, start +
    num_frames / fps)``.

    Spread: ``times[i] = i * clip_duration_s / num_frames`` (each frame at the start of
    its equal share of the clip); the span is the whole clip.

    Args:
        clip_duration_s: clip length in seconds.
        num_frames: frames wanted (>= 1).
        fps: training frame rate in frames/s (> 0).
        rng: random source for the start (used only by the contiguous window).
        spread: spread the frames over the whole clip.
        path: the clip, named in errors.
        start_s: contiguous window only: use this start (clamped into the clip)
            instead of a random one, e.g. one of :func:`window_starts`.

    Raises:
        MediaError: the clip is shorter than ``num_frames / fps`` (either mode).
    """
    if num_frames < 1 or fps <= 0:
        raise ValueError(f"num_frames ({num_frames}) must be >= 1 and fps ({fps}) > 0")
    needed = num_frames / fps
    if not math.isfinite(clip_duration_s) or clip_duration_s < needed - _DURATION_SLACK_S:
        available = auto_frame_count(clip_duration_s, fps) if math.isfinite(clip_duration_s) else 0
        raise MediaError(
            path if path is not None else "<clip>",
            f"the clip is {clip_duration_s:.3f} s long but {num_frames} frames at {fps:g} fps "
            f"need {needed:.3f} s; lower num_frames (this clip holds {available} frames as "
            "8k+1), use auto_frame_count, or remove the clip from the dataset",
        )
    if spread:
        step = clip_duration_s / num_frames
        return FrameWindow([i * step for i in range(num_frames)], 0.0, float(clip_duration_s))
    latest = max(0.0, clip_duration_s - needed)
    if start_s is not None:
        start = min(max(0.0, float(start_s)), latest)
    else:
        start = rng.uniform(0.0, latest) if latest > 0 else 0.0
    return FrameWindow([start + i / fps for i in range(num_frames)], start, needed)


def window_starts(
    clip_duration_s: float,
    num_frames: int,
    fps: float,
    rng: random.Random,
    max_windows: int = MAX_WINDOWS_PER_CLIP,
    *,
    path=None,
) -> list[float]:
    """Starts (s) of the non-overlapping contiguous windows a clip gives.

    A window is ``W = num_frames / fps`` seconds. The clip gives
    ``n = min(max_windows, floor(clip_duration_s / W))`` windows (at least 1), so a long
    clip is seen in several natural-speed pieces instead of one. With ``slack =
    clip_duration_s - n·W``:

    * ``n < max_windows``: the windows are back to back (starts exactly ``W`` apart)
      from an offset drawn from ``rng`` in ``[0, slack]``;
    * capped (``n == max_windows``): they are spread over the clip with equal gaps
      ``g = slack / n`` (starts ``W + g`` apart) from an offset in ``[0, g]``.

    The same ``rng`` state gives the same starts, so cached windows are found again.

    Raises:
        MediaError: the clip is shorter than one window (as :func:`choose_window`).
    """
    if max_windows < 1:
        raise ValueError(f"max_windows ({max_windows}) must be >= 1")
    choose_window(clip_duration_s, num_frames, fps, rng, path=path, start_s=0.0)  # raises when too short
    window = num_frames / fps
    count = max(1, min(max_windows, int(math.floor((clip_duration_s + _DURATION_SLACK_S) / window))))
    slack = max(0.0, clip_duration_s - count * window)
    gap = slack / count if count == max_windows else 0.0
    room = slack - (count - 1) * gap
    offset = rng.uniform(0.0, room) if room > 0 else 0.0
    return [offset + k * (window + gap) for k in range(count)]


def auto_frame_count(clip_duration_s: float, fps: float, max_frames: int | None = None) -> int:
    """Largest 8k+1 frame count that fits in the clip at ``fps`` (and <= ``max_frames``).

    Returns 0 when not even one frame fits.
    """
    available = int(math.floor(clip_duration_s * fps + 1e-6))
    if max_frames is not None:
        available = min(available, max_frames)
    if available < 1:
        return 0
    return 8 * ((available - 1) // 8) + 1


def choose_bucket(width: int, height: int, resolution: int) -> tuple[int, int]:
    """Training size ``(W, H)`` for a ``width``×``height`` source.

    Both sides are multiples of 32 (at least 32), the area is within one 32-pixel row
    or column of ``resolution²``, and among those sizes the aspect ratio is the one
    closest (in log ratio) to the source's; ties go to the area closest to
    ``resolution²``.
    """
    if width <= 0 or height <= 0 or resolution <= 0:
        raise ValueError(f"width ({width}), height ({height}) and resolution ({resolution}) must be > 0")
    m = BUCKET_MULTIPLE
    target_area = float(resolution) ** 2
    target_aspect = math.log(width / height)
    best: tuple[float, float, int, int] | None = None
    max_side = max(m, int(math.ceil(target_area / m / m)) * m)
    for w in range(m, max_side + m, m):
        exact_h = target_area / w
        for h in {max(m, math.floor(exact_h / m) * m), max(m, math.ceil(exact_h / m) * m)}:
            key = (round(abs(math.log(w / h) - target_aspect), 12), abs(w * h - target_area), w, h)
            if best is None or key < best:
                best = key
    return best[2], best[3]


def resize_and_crop(frames: torch.Tensor | np.ndarray, width: int, height: int) -> torch.Tensor:
    """Scale to cover ``width``×``height`` (aspect kept), then centre-crop.

    Args:
        frames: uint8 ``[F, H, W, 3]`` RGB (torch or numpy).
        width, height: output size in pixels.

    Returns:
        float32 ``[F, 3, height, width]`` in [-1, 1].
    """
    x = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must be [F, H, W, 3], got {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2).to(torch.float32)  # [F, 3, H, W], 0..255
    src_h, src_w = x.shape[-2:]
    scale = max(width / src_w, height / src_h)
    new_w = max(width, int(round(src_w * scale)))
    new_h = max(height, int(round(src_h * scale)))
    if (new_h, new_w) != (src_h, src_w):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=scale < 1)
    top = (new_h - height) // 2
    left = (new_w - width) // 2
    x = x[:, :, top : top + height, left : left + width]
    return (x / 127.5 - 1.0).clamp(-1.0, 1.0).contiguous()


def flip_x(frames: torch.Tensor) -> torch.Tensor:
    """Mirror left-right: ``[..., H, W]`` -> same shape, last axis reversed."""
    return torch.flip(frames, dims=[-1])


def flip_y(frames: torch.Tensor) -> torch.Tensor:
    """Mirror top-bottom: ``[..., H, W]`` -> same shape, second-to-last axis reversed."""
    return torch.flip(frames, dims=[-2])

"""How a player shows a video frame: square pixels (the sample aspect ratio) and a display rotation.

PyAV only (no torch or numpy), so the web UI's thumbnails (toolkit/media/thumbs.py) and the
trainer's decoder (toolkit/media/video_decode.py) read a clip's shape the same way.
"""

from __future__ import annotations

#: A sample aspect ratio outside this range is taken for broken metadata and ignored
#: (real anamorphic formats use 0.9 to 2.0).
SAR_RANGE = (0.25, 4.0)


def sample_aspect_ratio(stream) -> float:
    """The pixel shape of a PyAV video stream (width / height of one stored pixel): the
    container's value, else the codec's; 1.0 when unset (0/1) or implausible."""
    for source in (stream, stream.codec_context):
        ratio = getattr(source, "sample_aspect_ratio", None)
        if ratio is not None and ratio.numerator > 0 and ratio.denominator > 0:
            value = float(ratio)
            return value if SAR_RANGE[0] <= value <= SAR_RANGE[1] else 1.0
    return 1.0


def display_size(stream, width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` of a stored frame once its pixels are square (before rotation):
    the width scaled by the sample aspect ratio, as players show it."""
    sar = sample_aspect_ratio(stream)
    return (max(1, int(round(width * sar))), height) if sar != 1.0 else (width, height)


def rotation_k(frame) -> int:
    """Quarter turns counter-clockwise (for ``np.rot90``) from a frame's display matrix."""
    rotation = getattr(frame, "rotation", 0) or 0
    return int(round(rotation / 90.0)) % 4

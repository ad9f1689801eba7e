"""Facts and thumbnails of dataset files, for the web UI's Datasets page.

    python -m toolkit.media.thumbs OUT_DIR FILE [FILE ...]

For each file prints one JSON line: ``{"file", "ok", "kind", "duration_s", "fps",
"width", "height", "has_audio", "thumb", "error"}``. ``thumb`` is the name of a JPEG
(at most 256 px on its long side) written into OUT_DIR: the first frame of a clip, or the
image itself; an audio file (kind "audio") has its duration and no thumbnail. Only PyAV and Pillow are imported (not torch), so a page of new files is
described in about a second; the full, trainer-side verdict on each file is
``run.py --check``, which the page also runs. One bad file is reported on its line and
does not stop the others.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import av
from PIL import Image, ImageOps

from toolkit.media.display import display_size, rotation_k

THUMB_SIZE = 256
# The trainer's list (toolkit.media.video_decode.IMAGE_EXTENSIONS), repeated here because
# importing that module imports torch, which would make every listing seconds slower.
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp")
# and toolkit.media.audio_decode.AUDIO_EXTENSIONS, for the same reason
AUDIO_EXTENSIONS = ("wav", "flac", "mp3", "m4a", "ogg", "opus")


def _thumb_name(path: Path) -> str:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest() + ".jpg"


def _duration_s(container, stream) -> float | None:
    """The stream's own duration, else the container's, else None (some files give neither)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _video_facts(path: Path):
    """(facts, first frame as a PIL image) of a clip, read with PyAV."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("has no video stream")
        stream = container.streams.video[0]
        duration = _duration_s(container, stream)
        rate = stream.average_rate or stream.guessed_rate
        facts = {"duration_s": duration, "fps": float(rate) if rate else None,
                 "has_audio": bool(container.streams.audio)}
        for frame in container.decode(stream):
            # As a player shows it, as the trainer decodes it: square pixels, then the rotation.
            width, height = display_size(stream, frame.width, frame.height)
            image = frame.to_image().resize((width, height))
            turns = rotation_k(frame)
            if turns:
                image = image.rotate(90 * turns, expand=True)  # counter-clockwise, like np.rot90
            facts.update(width=image.width, height=image.height)
            return facts, image
    raise ValueError("has no decodable video frame")


def _audio_facts(path: Path) -> dict:
    """Duration of an audio-only file's first audio stream, read with PyAV."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError("has no audio stream")
        stream = container.streams.audio[0]
        return {"duration_s": _duration_s(container, stream), "has_audio": True}


def describe(path: Path, out_dir: Path) -> dict:
    """The facts of one file, its thumbnail written to ``out_dir``."""
    suffix = path.suffix.lower().lstrip(".")
    kind = "image" if suffix in IMAGE_EXTENSIONS else "audio" if suffix in AUDIO_EXTENSIONS else "video"
    record: dict = {"file": str(path), "ok": False, "kind": kind}
    if kind == "audio":
        try:
            record.update(_audio_facts(path), ok=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported on its own line
            record["error"] = f"cannot be read ({type(exc).__name__}: {exc}); run the dataset check for what to do"
        return record
    try:
        if kind == "video":
            facts, image = _video_facts(path)
            record.update(facts)
        else:
            with Image.open(path) as opened:
                image = ImageOps.exif_transpose(opened).convert("RGB")
            record.update(width=image.width, height=image.height)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported on its own line
        record["error"] = f"cannot be read ({type(exc).__name__}: {exc}); run the dataset check for what to do"
        return record
    image = image.convert("RGB")
    image.thumbnail((THUMB_SIZE, THUMB_SIZE))
    name = _thumb_name(path)
    tmp = out_dir / f".{name}.tmp"
    image.save(tmp, format="JPEG", quality=85)
    tmp.replace(out_dir / name)  # atomic: a reader never sees half a thumbnail
    record.update(ok=True, thumb=name)
    return record


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m toolkit.media.thumbs OUT_DIR FILE [FILE ...]", file=sys.stderr)
        return 2
    out_dir = Path(argv[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in argv[1:]:
        print(json.dumps(describe(Path(name), out_dir)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Generate a tiny synthetic character dataset: clips with sound, images, captions.

    python -m toolkit.dev.synthetic_data OUT_DIR [--clips 4] [--images 2] [--seconds 2.0]
                                             [--size 64] [--seed 0]

Each clip ``clip_NNN.mp4`` is h264 + AAC (44.1 kHz stereo), ``size``×``size`` pixels at
24 fps, with the smallest 8k+1 frame count that is >= ``seconds``·24 (49 frames for
2 s). It shows a coloured shape (colour, shape and direction differ per clip) moving
across a grey background. Its sound is a tone of 220·(1 + i/4) Hz for clip i, plus,
when ``espeak-ng`` is on PATH, a spoken word starting at 0.25 s. ``clip_NNN.txt`` holds
the caption, e.g. "a red circle moving left, a voice says hello".

Each image ``image_NNN.png`` shows a still shape, with ``image_NNN.txt`` captions.

Generation is deterministic for a given seed and idempotent: a hidden manifest
(``.synthetic_data.json``) records what each file was made from, and files whose
recipe, size and caption still match are skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import av
import numpy as np
from PIL import Image

from toolkit.errors import MediaError, UserInputError
from toolkit.media.mp4_writer import write_mp4

FPS = 24
SAMPLE_RATE = 44100
MANIFEST = ".synthetic_data.json"
_VERSION = 1
_COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 80, 230),
    "yellow": (235, 215, 40),
    "magenta": (210, 50, 200),
    "cyan": (40, 200, 210),
    "orange": (240, 140, 30),
    "white": (245, 245, 245),
}
_SHAPES = ("circle", "square", "triangle")
_DIRECTIONS = ("left", "right", "up", "down")
_WORDS = ("hello", "seven", "banana", "yes", "orange", "river", "thanks", "purple")
_WORD_START_S = 0.25


def clip_frame_count(seconds: float, fps: int = FPS) -> int:
    """Smallest 8k+1 frame count with at least ``seconds * fps`` frames."""
    need = max(1, math.ceil(seconds * fps - 1e-9))
    return 8 * math.ceil((need - 1) / 8) + 1


def tone_frequency(index: int) -> float:
    """Hz of clip ``index``'s tone: 220·(1 + index/4)."""
    return 220.0 * (1 + index / 4)


def make_dataset(
    out_dir, clips: int = 4, images: int = 2, seconds: float = 2.0, size: int = 64, seed: int = 0
) -> list[Path]:
    """Write ``clips`` mp4 clips and ``images`` png images with captions to ``out_dir``.

    Returns the media paths (clips first, then images), sorted by name. Files that
    already match their recipe are left untouched.
    """
    if clips < 0 or images < 0:
        raise UserInputError(f"--clips ({clips}) and --images ({images}) must be >= 0")
    if seconds <= 0 or size < 2:
        raise UserInputError(f"--seconds ({seconds}) must be > 0 and --size ({size}) >= 2")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    manifest = _read_manifest(manifest_path)
    speech = shutil.which("espeak-ng") is not None
    made: list[Path] = []
    for i in range(clips):
        recipe = {"kind": "clip", "index": i, "seconds": seconds, "size": size, "seed": seed,
                  "speech": speech, "version": _VERSION}  # fmt: skip
        made.append(_ensure(out_dir / f"clip_{i:03d}.mp4", recipe, manifest, _write_clip))
    for i in range(images):
        recipe = {"kind": "image", "index": i, "size": size, "seed": seed, "version": _VERSION}
        made.append(_ensure(out_dir / f"image_{i:03d}.png", recipe, manifest, _write_image))
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return made


def _read_manifest(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # an unreadable manifest only means everything is regenerated
    return data if isinstance(data, dict) else {}


def _ensure(media: Path, recipe: dict, manifest: dict, writer) -> Path:
    """Write ``media`` + caption unless the manifest says they already match."""
    caption_path = media.with_suffix(".txt")
    entry = manifest.get(media.name)
    if (
        entry
        and entry.get("recipe") == recipe
        and media.exists()
        and media.stat().st_size == entry.get("bytes")
        and caption_path.exists()
        and caption_path.read_text(encoding="utf-8") == entry.get("caption")
    ):
        return media
    caption = writer(media, recipe)
    caption_path.write_text(caption, encoding="utf-8")
    manifest[media.name] = {"recipe": recipe, "bytes": media.stat().st_size, "caption": caption}
    return media


# --------------------------------------------------------------------------- drawing


def _describe(index: int) -> tuple[str, str, str]:
    colour = list(_COLOURS)[index % len(_COLOURS)]
    shape = _SHAPES[index % len(_SHAPES)]
    direction = _DIRECTIONS[index % len(_DIRECTIONS)]
    return colour, shape, direction


def _draw(canvas: np.ndarray, shape: str, cx: float, cy: float, radius: float, rgb) -> None:
    """Draw a filled ``shape`` centred at (cx, cy) px onto ``canvas`` uint8 [H, W, 3]."""
    h, w = canvas.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if shape == "circle":
        mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    elif shape == "square":
        mask = (np.abs(xs - cx) <= radius) & (np.abs(ys - cy) <= radius)
    else:  # triangle pointing up
        top, bottom = cy - radius, cy + radius
        half = (ys - top) / (2 * radius) * radius
        mask = (ys >= top) & (ys <= bottom) & (np.abs(xs - cx) <= half)
    canvas[mask] = rgb


def _write_clip(path: Path, recipe: dict) -> str:
    index, size, seconds = recipe["index"], recipe["size"], recipe["seconds"]
    rng = np.random.default_rng([recipe["seed"], index])
    colour, shape, direction = _describe(index)
    num_frames = clip_frame_count(seconds)
    radius = max(2.0, size / 8)
    background = int(rng.integers(60, 120))
    lane = float(rng.uniform(radius, size - radius))  # fixed coordinate across the motion
    lo, hi = radius, size - 1 - radius
    frames = np.full((num_frames, size, size, 3), background, np.uint8)
    for f in range(num_frames):
        progress = f / max(1, num_frames - 1)
        travel = lo + (hi - lo) * progress
        cx, cy = {
            "right": (travel, lane),
            "left": (hi + lo - travel, lane),
            "down": (lane, travel),
            "up": (lane, hi + lo - travel),
        }[direction]
        _draw(frames[f], shape, cx, cy, radius, _COLOURS[colour])

    n = int(round(num_frames / FPS * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    sound = 0.3 * np.sin(2 * np.pi * tone_frequency(index) * t)
    word = _WORDS[index % len(_WORDS)]
    if recipe["speech"]:
        voice = _speak(word)
        start = int(_WORD_START_S * SAMPLE_RATE)
        piece = voice[: max(0, n - start)]
        sound[start : start + piece.size] += 0.6 * piece
        caption = f"a {colour} {shape} moving {direction}, a voice says {word}"
    else:
        caption = f"a {colour} {shape} moving {direction}, a {tone_frequency(index):.0f} Hz tone plays"
    sound = np.clip(sound, -1, 1).astype(np.float32)
    write_mp4(path, frames, FPS, np.stack([sound, sound]), SAMPLE_RATE)
    return caption


def _write_image(path: Path, recipe: dict) -> str:
    index, size = recipe["index"], recipe["size"]
    rng = np.random.default_rng([recipe["seed"], 1000 + index])
    colour, shape, _ = _describe(index + 3)
    shade, name = ((200, "light grey") if index % 2 == 0 else (50, "dark grey"))
    canvas = np.full((size, size, 3), shade, np.uint8)
    jitter = float(rng.uniform(-size / 8, size / 8))
    _draw(canvas, shape, size / 2 + jitter, size / 2, max(2.0, size / 4), _COLOURS[colour])
    Image.fromarray(canvas).save(path, format="PNG")
    return f"a {colour} {shape} on a {name} background"


# --------------------------------------------------------------------------- speech


def _speak(word: str) -> np.ndarray:
    """Speak ``word`` with espeak-ng; float32 mono at SAMPLE_RATE, peak 1."""
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = Path(tmp) / "word.wav"
        cmd = ["espeak-ng", "-v", "en", "-s", "150", "-w", str(wav_path), word]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MediaError(wav_path, f"espeak-ng could not run ({exc})") from exc
        if proc.returncode != 0 or not wav_path.exists():
            err = proc.stderr.decode("utf-8", errors="replace").strip()
            raise MediaError(wav_path, f"espeak-ng failed (exit {proc.returncode}: {err})")
        with wave.open(str(wav_path), "rb") as reader:
            rate, channels, width = reader.getframerate(), reader.getnchannels(), reader.getsampwidth()
            raw = reader.readframes(reader.getnframes())
    if width != 2:
        raise MediaError(wav_path, f"espeak-ng wrote {8 * width}-bit audio; expected 16-bit")
    pcm = np.frombuffer(raw, "<i2").reshape(-1, channels).mean(axis=1).astype(np.float32) / 32768.0
    voice = _resample(pcm, rate, SAMPLE_RATE)
    peak = float(np.max(np.abs(voice))) if voice.size else 0.0
    return voice / peak if peak > 0 else voice


def _resample(mono: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample float32 mono with PyAV's resampler (FFmpeg swresample)."""
    if rate == target:
        return mono
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(mono[None, :].astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = rate
    frame.pts = 0
    out = [o.to_ndarray().reshape(-1) for o in resampler.resample(frame)]
    out += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolkit.dev.synthetic_data", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        paths = make_dataset(args.out_dir, args.clips, args.images, args.seconds, args.size, args.seed)
    except (UserInputError, MediaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    speech = "with espeak-ng speech" if shutil.which("espeak-ng") else "tones only (espeak-ng not on PATH)"
    print(f"{len(paths)} files in {args.out_dir} ({args.clips} clips, {args.images} images; {speech})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

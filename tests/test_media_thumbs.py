"""The Datasets page's facts and thumbnails (toolkit.media.thumbs)."""

from __future__ import annotations

import json
import subprocess
import sys

from PIL import Image

from toolkit.media import thumbs as media_thumbs
from toolkit.media.audio_decode import AUDIO_EXTENSIONS
from toolkit.media.video_decode import IMAGE_EXTENSIONS


def test_image_and_audio_extensions_match_the_trainer():
    assert media_thumbs.IMAGE_EXTENSIONS == IMAGE_EXTENSIONS
    assert media_thumbs.AUDIO_EXTENSIONS == AUDIO_EXTENSIONS


def test_an_audio_file_gets_its_duration_and_no_thumbnail(mixed_data, tmp_path):
    wav = tmp_path / "line.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(mixed_data / "clip_000.mp4"), "-vn", str(wav)],
                   check=True, capture_output=True)
    record = media_thumbs.describe(wav, tmp_path / "thumbs")
    assert record["ok"] and record["kind"] == "audio" and record["has_audio"] is True and "thumb" not in record
    assert 1.5 < record["duration_s"] < 2.5


def test_clip_image_and_bad_file_each_get_their_line(mixed_data, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    out = tmp_path / "thumbs"
    run = subprocess.run(
        [sys.executable, "-m", "toolkit.media.thumbs", str(out), str(mixed_data / "clip_000.mp4"),
         str(mixed_data / "image_000.png"), str(bad)],
        capture_output=True, text=True, check=True)
    clip, image, broken = (json.loads(line) for line in run.stdout.splitlines())
    assert clip["ok"] and clip["kind"] == "video" and clip["has_audio"] is True
    assert 1.5 < clip["duration_s"] < 2.5 and clip["fps"] == 24
    assert image["ok"] and image["kind"] == "image" and "has_audio" not in image
    assert not broken["ok"] and "cannot be read" in broken["error"]
    with Image.open(out / clip["thumb"]) as thumb:  # the first frame, as a JPEG
        assert thumb.format == "JPEG" and max(thumb.size) <= media_thumbs.THUMB_SIZE
    assert not list(out.glob(".*.tmp"))

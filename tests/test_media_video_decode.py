"""probe_media, decode_frames and load_image."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from test_media_factory import (  # noqa: E402
    frame_index_of,
    grey_frames,
    needs_ffmpeg,
    tone,
    write_media,
    write_vfr_mp4,
)

from toolkit.errors import MediaError  # noqa: E402
from toolkit.media.video_decode import decode_frames, load_image, probe_media  # noqa: E402


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """3 s, 24 fps, 32x32 grey clip (frame i has level 8·i mod 256), keyframe every 12
    frames, 44.1 kHz stereo AAC."""
    folder = tmp_path_factory.mktemp("video")
    return write_media(folder / "clip.mp4", frames=grey_frames(72, step=3), audio=tone(44100, 3.0, 440.0), gop=12)


# --------------------------------------------------------------------------- probe


def test_probe_video_with_audio(clip):
    info = probe_media(clip)
    assert (info.kind, info.width, info.height) == ("video", 32, 32)
    assert info.fps == pytest.approx(24.0)
    assert info.num_frames == 72
    assert info.duration_s == pytest.approx(3.0, abs=0.05)
    assert info.has_audio and info.audio_sample_rate == 44100 and info.audio_channels == 2
    assert info.audio_codec == "aac"


def test_probe_video_without_audio(tmp_path):
    path = write_media(tmp_path / "mute.mkv", container_format="matroska", frames=grey_frames(10, 48, 16))
    info = probe_media(path)
    assert (info.width, info.height, info.has_audio) == (48, 16, False)
    assert info.audio_sample_rate is None and info.audio_codec is None
    assert info.num_frames == 10


def test_probe_image(tmp_path):
    path = tmp_path / "still.png"
    Image.new("RGB", (40, 24), (1, 2, 3)).save(path)
    info = probe_media(path)
    assert (info.kind, info.width, info.height, info.num_frames, info.has_audio) == ("image", 40, 24, 1, False)


def test_probe_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match="empty") as err:
        probe_media(path)
    assert str(path) in str(err.value)


def test_probe_corrupt_header_says_what_to_do(tmp_path):
    path = tmp_path / "garbage.mov"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError) as err:
        probe_media(path)
    assert str(path) in str(err.value) and "re-encode" in str(err.value)


def test_probe_truncated_mp4(tmp_path, clip):
    data = clip.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError, match="corrupt, truncated") as err:
        probe_media(path)
    assert str(path) in str(err.value)


def test_probe_audio_only_file_is_rejected(tmp_path):
    path = write_media(tmp_path / "voice.m4v", container_format="mp4", audio=tone(16000, 0.5, 300.0))
    with pytest.raises(MediaError, match="only audio"):
        probe_media(path)


def test_probe_unsupported_file(tmp_path):
    path = tmp_path / "notes.avi"
    path.write_text("this is not a video", encoding="utf-8")
    with pytest.raises(MediaError) as err:
        probe_media(path)
    assert str(path) in str(err.value)


# --------------------------------------------------------------------------- frames


def test_frames_at_frame_times_and_between(clip):
    times = [0.0, 1 / 24, 0.5 / 24, 10 / 24 + 0.02, 71 / 24 + 0.03]
    frames = decode_frames(clip, times)
    assert frames.dtype == torch.uint8 and frames.shape == (5, 32, 32, 3)
    assert frame_index_of(frames, step=3) == [0, 1, 0, 10, 71]


def test_frames_in_any_order_with_repeats_after_a_seek(clip):
    times = [2.5, 2.0, 2.5, 1 / 24 * 50]
    assert frame_index_of(decode_frames(clip, times), step=3) == [60, 48, 60, 50]


def test_contiguous_window_is_every_frame(clip):
    times = [1.3 + i / 24 for i in range(9)]
    indices = frame_index_of(decode_frames(clip, times), step=3)
    assert indices == list(range(indices[0], indices[0] + 9)) and indices[0] == 31


def test_variable_frame_rate_picks_the_frame_whose_interval_holds_the_time(tmp_path):
    path = write_vfr_mp4(tmp_path / "vfr.mp4", [0, 30, 50, 120, 200, 210, 300])
    times = [0.01, 0.035, 0.06, 0.119, 0.205, 0.25, 0.0, 0.3]
    got = frame_index_of(decode_frames(path, times), step=30)
    assert got == [0, 1, 2, 2, 4, 5, 0, 6]


def test_time_past_the_end_is_an_error(clip):
    with pytest.raises(MediaError, match="ends at") as err:
        decode_frames(clip, [1.0, 3.5])
    assert str(clip) in str(err.value)


def test_truncated_clip_frames_past_the_cut_are_an_error(tmp_path):
    full = write_media(tmp_path / "full.mkv", container_format="matroska", frames=grey_frames(48, step=5))
    data = full.read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(data[: len(data) // 2])
    assert frame_index_of(decode_frames(path, [0.1]), step=5) == [2]
    with pytest.raises(MediaError):
        decode_frames(path, [1.9])


def test_odd_sized_video(tmp_path):
    path = write_media(tmp_path / "odd.mkv", container_format="matroska", frames=grey_frames(4, 30, 18))
    assert decode_frames(path, [0.0]).shape == (1, 18, 30, 3)


@needs_ffmpeg
def test_display_rotation_is_applied(tmp_path):
    image = np.zeros((1, 32, 64, 3), np.uint8)
    image[:, :8, :16] = 255  # white block top-left
    src = write_media(tmp_path / "src.mp4", frames=np.repeat(image, 3, axis=0))
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy", "-metadata:s:v:0", "rotate=90",
                    str(rotated)], check=True)  # fmt: skip
    info = probe_media(rotated)
    assert (info.width, info.height) == (32, 64)
    frame = decode_frames(rotated, [0.0])[0].numpy()
    assert frame.shape == (64, 32, 3)
    ys, xs = np.nonzero(frame[..., 0] > 128)
    assert ys.mean() > 48 and xs.mean() < 8  # where `ffmpeg` (autorotate) shows it: bottom-left


def test_non_ascii_name(tmp_path):
    path = write_media(tmp_path / "clip_ñandú_東京.mp4", frames=grey_frames(5))
    assert frame_index_of(decode_frames(path, [2 / 24])) == [2]


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("fmt, ext", [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp"), ("BMP", "bmp")])
def test_load_image_formats(tmp_path, fmt, ext):
    path = tmp_path / f"img.{ext}"
    Image.new("RGB", (21, 13), (200, 30, 40)).save(path, format=fmt, quality=95)
    image = load_image(path)
    assert image.dtype == torch.uint8 and image.shape == (13, 21, 3)
    assert np.allclose(image.float().mean(dim=(0, 1)).numpy(), [200, 30, 40], atol=6)


def test_load_image_applies_exif_orientation(tmp_path):
    path = tmp_path / "phone.jpg"
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10] = 255  # left strip white
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display = rotate 90 degrees clockwise
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    image = load_image(path).numpy()
    assert image.shape == (40, 20, 3)
    assert image[:10].mean() > 200 and image[20:].mean() < 30  # left strip became the top


def test_load_image_rgba_is_composited_on_white(tmp_path):
    path = tmp_path / "cutout.png"
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4] = (255, 0, 0, 255)  # opaque red top half, transparent black bottom half
    Image.fromarray(rgba, "RGBA").save(path)
    image = load_image(path).numpy()
    assert image.shape == (8, 8, 3)
    assert (image[0, 0] == [255, 0, 0]).all() and (image[7, 7] == [255, 255, 255]).all()


@pytest.mark.parametrize("mode", ["L", "P", "I;16"])
def test_load_image_greyscale_palette_and_16_bit(tmp_path, mode):
    path = tmp_path / f"grey_{mode.replace(';', '')}.png"
    if mode == "I;16":
        Image.fromarray(np.full((6, 9), 32768, np.uint16)).save(path)
        expected = 127
    else:
        Image.new("L", (9, 6), 127).convert(mode).save(path)
        expected = 127
    image = load_image(path).numpy()
    assert image.shape == (6, 9, 3)
    assert abs(int(image[3, 4, 0]) - expected) <= 1 and (image[..., 0] == image[..., 2]).all()


def test_load_image_corrupt_and_truncated(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:300])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    for path in (cut, junk):
        with pytest.raises(MediaError) as err:
            load_image(path)
        assert str(path) in str(err.value)


def test_load_image_non_ascii_name(tmp_path):
    path = tmp_path / "画像_é.png"
    Image.new("RGB", (4, 4), (0, 255, 0)).save(path)
    assert load_image(path)[0, 0].tolist() == [0, 255, 0]

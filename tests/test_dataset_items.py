"""load_training_item: frames + audio in sync, and every way audio can be absent."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from test_media_factory import dominant_frequency, grey_frames, onset_s, tone, write_media  # noqa: E402

from toolkit.dataset.discovery import DatasetFile  # noqa: E402
from toolkit.dataset.items import load_training_item  # noqa: E402
from toolkit.errors import MediaError  # noqa: E402
from toolkit.media import audio_decode  # noqa: E402

SR = 16000


def _load(path, kind="video", caption="a caption", **overrides):
    options = dict(num_frames=9, fps=24, resolution=32, do_audio=True, audio_normalize=False, spread=False,
                   flip_x=False, flip_y=False, rng=random.Random(0))  # fmt: skip
    options.update(overrides)
    return load_training_item(DatasetFile(Path(path), kind, caption, "file"), **options)


@pytest.fixture(scope="module")
def step_clip(tmp_path_factory):
    """3 s, 24 fps: dark frames before 1.0 s and bright ones after; a 440 Hz tone that
    also starts at 1.0 s (AAC, 44.1 kHz stereo)."""
    frames = np.full((72, 32, 32, 3), 16, np.uint8)
    frames[24:] = 200
    folder = tmp_path_factory.mktemp("items")
    return write_media(folder / "step.mp4", frames=frames, audio=tone(44100, 3.0, 440.0, onset_s=1.0))


def test_video_item_shapes_and_metadata(step_clip):
    item = _load(step_clip, caption="she says hi")
    assert item.frames.dtype == torch.float32 and item.frames.shape == (9, 3, 32, 32)
    assert item.frames.min() >= -1 and item.frames.max() <= 1
    assert item.audio.dtype == torch.float32 and item.audio.shape == (2, round(9 / 24 * SR))
    assert (item.audio_status, item.audio_problem, item.caption, item.fps) == ("ok", None, "she says hi", 24)
    assert item.duration_s == pytest.approx(9 / 24) and item.num_frames == 9


class _FixedStart(random.Random):
    """An rng whose uniform() returns a chosen window start."""

    def __init__(self, start: float):
        super().__init__(0)
        self.start = start

    def uniform(self, a, b):
        assert a <= self.start <= b
        return self.start


@pytest.mark.parametrize("start", [0.0, 0.31, 23 / 24, 0.99, 1.0 - 1e-4])
def test_audio_span_is_the_frames_span(step_clip, start):
    item = _load(step_clip, num_frames=25, rng=_FixedStart(start))
    assert item.start_s == start
    bright = (item.frames.mean(dim=(1, 2, 3)) > 0).numpy()
    k = int(np.argmax(bright))  # first frame shown at or after 1.0 s
    assert bright[k:].all() and not bright[:k].any()
    onset = onset_s(item.audio[0].numpy(), SR)  # the tone starts at 1.0 s too
    assert onset == pytest.approx(1.0 - start, abs=0.005)
    assert (k - 1) / 24 - 0.005 < onset <= k / 24 + 0.005


def _late_item(path, **overrides):
    """An item whose window starts after the tone's onset at 1.0 s."""
    for seed in range(100):
        item = _load(path, rng=random.Random(seed), **overrides)
        if item.start_s > 1.01:
            return item
    raise AssertionError("no window started after 1.0 s")


def test_contiguous_audio_keeps_its_pitch(step_clip):
    item = _late_item(step_clip)
    assert abs(dominant_frequency(item.audio[0].numpy(), SR) - 440.0) <= 4.4


def test_spread_compresses_the_whole_clip_into_the_item(step_clip):
    item = _load(step_clip, num_frames=9, spread=True, preserve_pitch=False)
    assert (item.start_s, item.duration_s) == (0.0, pytest.approx(3.0, abs=0.01))
    assert item.audio.shape == (2, round(9 / 24 * SR))
    # 3 s squeezed into 0.375 s: 8x faster, so the 440 Hz tone plays at 3520 Hz,
    # starting a third of the way in.
    wave = item.audio[0].numpy()
    assert onset_s(wave, SR) == pytest.approx(1 / 3 * 9 / 24, abs=0.005)
    assert abs(dominant_frequency(wave[3000:], SR) - 3520.0) <= 35.2
    bright = (item.frames.mean(dim=(1, 2, 3)) > 0).tolist()
    assert bright == [False] * 3 + [True] * 6  # frames at 0, 1/3, 2/3, ... of the clip


def test_spread_with_preserve_pitch_keeps_the_tone_and_the_window_length(step_clip):
    """audio_preserve_pitch: the 3 s clip is shortened 8x by atempo, not resampled: the
    440 Hz tone stays at 440 Hz (within 1%) and the waveform is exactly the window long."""
    item = _load(step_clip, num_frames=9, spread=True, preserve_pitch=True)
    assert item.audio.shape == (2, round(9 / 24 * SR))
    wave = item.audio[0].numpy()
    # atempo overlaps ~64 ms windows, so the onset may move by a fraction of one
    assert onset_s(wave, SR) == pytest.approx(1 / 3 * 9 / 24, abs=0.035)
    assert abs(dominant_frequency(wave[3000:], SR) - 440.0) <= 4.4


def test_normalize(step_clip):
    assert float(_late_item(step_clip).audio.abs().max()) == pytest.approx(0.5, abs=0.02)
    assert float(_late_item(step_clip, audio_normalize=True).audio.abs().max()) == pytest.approx(0.95, abs=1e-4)


def test_video_without_audio_stream_is_no_stream(tmp_path):
    path = write_media(tmp_path / "mute.mp4", frames=grey_frames(24))
    item = _load(path)
    assert item.audio is None and item.audio_status == "no_stream"
    assert str(path) in item.audio_problem and item.frames.shape[0] == 9


def test_audio_not_requested(step_clip):
    item = _load(step_clip, do_audio=False)
    assert item.audio is None and (item.audio_status, item.audio_problem) == ("not_requested", None)


def test_undecodable_audio_is_failed_with_every_decoders_error(step_clip, monkeypatch):
    def broken(label):
        def decode(path, *args):
            raise MediaError(path, f"{label} cannot decode this")

        return decode

    monkeypatch.setattr(audio_decode, "audio_decoders_available", lambda: ["pyav", "ffmpeg-cli"])
    monkeypatch.setitem(audio_decode._DECODERS, "pyav", broken("pyav-sim"))
    monkeypatch.setitem(audio_decode._DECODERS, "ffmpeg-cli", broken("cli-sim"))
    item = _load(step_clip)
    assert item.audio is None and item.audio_status == "failed"
    assert str(step_clip) in item.audio_problem
    assert "pyav-sim cannot decode" in item.audio_problem and "cli-sim cannot decode" in item.audio_problem
    assert item.frames.shape[0] == 9  # the frames are still there


def test_audio_shorter_than_the_video_is_failed_not_padded(tmp_path):
    path = write_media(tmp_path / "short_audio.mp4", frames=grey_frames(72), audio=tone(44100, 1.0, 440.0))
    early = _load(path, rng=_FixedStart(0.2))
    assert early.audio_status == "ok"
    late = _load(path, rng=_FixedStart(1.5))
    assert late.audio is None and late.audio_status == "failed" and "short" in late.audio_problem
    assert late.frames.shape[0] == 9


def test_image_item(tmp_path):
    path = tmp_path / "face.jpg"
    Image.new("RGB", (96, 48), (255, 0, 0)).save(path, quality=95)
    item = _load(path, kind="image", resolution=64)
    assert item.frames.shape == (1, 3, 64, 96)
    assert item.audio is None and item.audio_status == "image"
    assert float(item.frames[0, 0].mean()) > 0.95


def test_flips_mirror_the_frames(tmp_path):
    frames = np.zeros((24, 32, 32, 3), np.uint8)
    frames[:, :8, :8] = 255  # top-left block
    path = write_media(tmp_path / "corner.mp4", frames=frames)
    plain = _load(path, do_audio=False)
    mirrored = _load(path, do_audio=False, flip_x=True, flip_y=True)
    assert plain.frames[0, 0, 2, 2] > 0.9 and plain.frames[0, 0, -3, -3] < -0.9
    assert torch.equal(mirrored.frames, plain.frames.flip(-1).flip(-2))


def test_clip_too_short_raises(tmp_path):
    path = write_media(tmp_path / "tiny.mp4", frames=grey_frames(5), audio=tone(44100, 0.25, 440.0))
    with pytest.raises(MediaError, match="num_frames") as err:
        _load(path, num_frames=9)
    assert str(path) in str(err.value)


def test_non_ascii_item(tmp_path):
    path = write_media(tmp_path / "voz_ñ_声.mp4", frames=grey_frames(24), audio=tone(48000, 1.0, 440.0))
    item = _load(path, caption="ella dice «hola», 声")
    assert item.audio_status == "ok" and item.caption == "ella dice «hola», 声"

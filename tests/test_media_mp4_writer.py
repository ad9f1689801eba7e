"""write_mp4: h264 + AAC round trip, odd sizes, fractional fps, atomic replace."""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_media_factory import dominant_frequency, frame_index_of, grey_frames, onset_s, tone  # noqa: E402

from toolkit.errors import MediaError  # noqa: E402
from toolkit.media.audio_decode import decode_audio  # noqa: E402
from toolkit.media.mp4_writer import write_mp4  # noqa: E402
from toolkit.media.video_decode import decode_frames, probe_media  # noqa: E402


def _streams(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0].codec_context
        a = c.streams.audio[0].codec_context if c.streams.audio else None
        return (v.name, v.pix_fmt), (a.name, a.sample_rate, a.channels) if a else None


def test_round_trip_with_audio(tmp_path):
    frames = torch.from_numpy(grey_frames(25, 48, 32))
    audio = np.stack([tone(44100, 25 / 24, 330.0, onset_s=0.5)] * 2)
    path = write_mp4(tmp_path / "out.mp4", frames, 24, audio, 44100)
    assert _streams(path) == (("h264", "yuv420p"), ("aac", 44100, 2))
    info = probe_media(path)
    assert (info.width, info.height, info.num_frames) == (48, 32, 25) and info.fps == pytest.approx(24)
    assert frame_index_of(decode_frames(path, [i / 24 for i in range(25)])) == list(range(25))
    wave = decode_audio(path, 0.25, 0.75).numpy()
    assert abs(onset_s(wave[0], 16000) - 0.25) <= 0.005
    assert abs(dominant_frequency(wave[0, 6000:], 16000) - 330.0) <= 3.3


def test_numpy_frames_mono_1d_audio_and_fractional_fps(tmp_path):
    path = write_mp4(tmp_path / "ntsc.mp4", grey_frames(12), 24000 / 1001, tone(16000, 0.5, 500.0), 16000)
    assert _streams(path)[1] == ("aac", 16000, 1)
    assert probe_media(path).fps == pytest.approx(23.976, abs=1e-3)


def test_without_audio(tmp_path):
    path = write_mp4(tmp_path / "mute.mp4", grey_frames(3), 24)
    assert _streams(path)[1] is None and not probe_media(path).has_audio


def test_odd_size_is_padded_to_even(tmp_path):
    frames = np.zeros((2, 17, 31, 3), np.uint8)
    frames[:, :, :10] = 255
    path = write_mp4(tmp_path / "odd.mp4", frames, 24)
    info = probe_media(path)
    assert (info.width, info.height) == (32, 18)
    out = decode_frames(path, [0.0])[0].numpy()
    assert out[:, :8].mean() > 240 and out[:, 12:].mean() < 15


def test_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sample.mp4"
    write_mp4(target, grey_frames(3), 24)
    before = target.read_bytes()
    with pytest.raises(MediaError) as err:  # AAC cannot encode at 1234 Hz: fails mid-write
        write_mp4(target, grey_frames(5), 24, np.zeros((2, 1000), np.float32), 1234)
    assert str(target) in str(err.value)
    assert target.read_bytes() == before
    write_mp4(target, grey_frames(7), 24)
    assert probe_media(target).num_frames == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample.mp4"]


@pytest.mark.parametrize(
    "frames, audio",
    [
        (np.zeros((2, 8, 8), np.uint8), None),  # no channel axis
        (np.zeros((2, 8, 8, 3), np.float32), None),  # not uint8
        (np.zeros((2, 8, 8, 3), np.uint8), np.zeros((3, 100), np.float32)),  # 3 channels
        (np.zeros((2, 8, 8, 3), np.uint8), np.full((2, 100), np.nan, np.float32)),
    ],
)
def test_bad_inputs_are_rejected_before_writing(tmp_path, frames, audio):
    with pytest.raises(MediaError):
        write_mp4(tmp_path / "bad.mp4", frames, 24, audio, 16000)
    assert list(tmp_path.iterdir()) == []


def test_non_ascii_path(tmp_path):
    path = write_mp4(tmp_path / "échantillon_サンプル.mp4", grey_frames(2), 24)
    assert probe_media(path).num_frames == 2

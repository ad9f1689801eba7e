"""toolkit.dev.synthetic_data: clips with sound, images, captions, idempotence, CLI."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import av
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_media_factory import dominant_frequency  # noqa: E402

from toolkit.dataset.discovery import discover_dataset  # noqa: E402
from toolkit.dev import synthetic_data  # noqa: E402
from toolkit.media.audio_decode import decode_audio  # noqa: E402
from toolkit.media.video_decode import decode_frames, probe_media  # noqa: E402

HAVE_ESPEAK = shutil.which("espeak-ng") is not None


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    paths = synthetic_data.make_dataset(folder, clips=2, images=1, seconds=0.6, size=32, seed=0)
    return folder, paths


def test_files_and_captions(dataset):
    folder, paths = dataset
    assert [p.name for p in paths] == ["clip_000.mp4", "clip_001.mp4", "image_000.png"]
    scan = discover_dataset(folder)
    assert [f.path.name for f in scan.files] == ["clip_000.mp4", "clip_001.mp4", "image_000.png"]
    assert all(f.caption_source == "file" and f.caption for f in scan.files)
    first = scan.files[0].caption
    assert first.startswith("a red circle moving left")
    assert ("a voice says hello" in first) == HAVE_ESPEAK


def test_clips_are_h264_aac_with_8k_plus_1_frames(dataset):
    _, paths = dataset
    for path in paths[:2]:
        info = probe_media(path)
        assert info.num_frames == 17 and (info.num_frames - 1) % 8 == 0 and info.num_frames >= 0.6 * 24
        assert info.fps == pytest.approx(24) and (info.width, info.height) == (32, 32)
        assert info.has_audio and info.audio_codec == "aac"
        with av.open(str(path)) as c:
            assert c.streams.video[0].codec_context.name == "h264"


@pytest.mark.parametrize("seconds, frames", [(2.0, 49), (0.5, 17), (1 / 24, 1), (1.0, 25), (1.01, 25), (1.05, 33)])
def test_clip_frame_count(seconds, frames):
    assert synthetic_data.clip_frame_count(seconds) == frames


def test_each_clip_has_its_own_tone_and_picture(dataset):
    _, paths = dataset
    for i, path in enumerate(paths[:2]):
        wave = decode_audio(path, 0.0, 0.24)[0].numpy()  # before the spoken word
        expected = synthetic_data.tone_frequency(i)
        assert abs(dominant_frequency(wave, 16000) - expected) <= 0.01 * expected
    a, b = (decode_frames(p, [0.3]).float() for p in paths[:2])
    assert (a - b).abs().mean() > 10


def test_shapes_move(dataset):
    _, paths = dataset
    frames = decode_frames(paths[0], [0.0, 0.6]).float()
    assert (frames[0] - frames[1]).abs().mean() > 5


@pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not on PATH")
def test_a_spoken_word_is_mixed_in(dataset):
    _, paths = dataset
    wave = decode_audio(paths[0], 0.0, 0.7)[0].numpy()

    def high_band(x):  # energy above 1 kHz, where the 220 Hz tone has none
        spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
        freqs = np.fft.rfftfreq(x.size, 1 / 16000)
        return spectrum[freqs > 1000].sum() / spectrum.sum()

    assert high_band(wave[: int(0.24 * 16000)]) < 0.01
    assert high_band(wave[int(0.3 * 16000) :]) > 0.02


def test_second_run_skips_and_changed_files_are_rebuilt(dataset):
    folder, paths = dataset
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    again = synthetic_data.make_dataset(folder, clips=2, images=1, seconds=0.6, size=32, seed=0)
    assert again == paths and {p: p.stat().st_mtime_ns for p in paths} == stamps
    caption = folder / "clip_001.txt"
    original = caption.read_text(encoding="utf-8")
    caption.write_text("edited", encoding="utf-8")
    synthetic_data.make_dataset(folder, clips=2, images=1, seconds=0.6, size=32, seed=0)
    assert caption.read_text(encoding="utf-8") == original
    assert paths[0].stat().st_mtime_ns == stamps[paths[0]]


def test_another_seed_rebuilds(tmp_path):
    synthetic_data.make_dataset(tmp_path, clips=0, images=1, size=16, seed=0)
    first = (tmp_path / "image_000.png").read_bytes()
    synthetic_data.make_dataset(tmp_path, clips=0, images=1, size=16, seed=1)
    assert (tmp_path / "image_000.png").read_bytes() != first


def test_cli(tmp_path, capsys):
    assert synthetic_data.main([str(tmp_path / "out"), "--clips", "1", "--images", "1", "--seconds", "0.3",
                                "--size", "16", "--seed", "3"]) == 0  # fmt: skip
    assert "2 files" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "clip_000.mp4", "clip_000.txt", "image_000.png", "image_000.txt"
    ]  # fmt: skip
    assert synthetic_data.main([str(tmp_path / "bad"), "--seconds", "0"]) == 2

"""decode_audio: formats, layouts, rates, exact spans, and loud failures."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_media_factory import (  # noqa: E402
    dominant_frequency,
    grey_frames,
    needs_ffmpeg,
    onset_s,
    tone,
    write_media,
)

from toolkit.errors import MediaError, NoAudioStream  # noqa: E402
from toolkit.media import audio_decode  # noqa: E402
from toolkit.media.audio_decode import audio_decoders_available, decode_audio  # noqa: E402

SR = 16000
DECODERS = ["pyav", pytest.param("ffmpeg-cli", marks=needs_ffmpeg)]


@pytest.fixture
def only(monkeypatch):
    """only(name): make decode_audio use that decoder alone."""

    def use(name: str) -> None:
        monkeypatch.setattr(audio_decode, "audio_decoders_available", lambda: [name])

    return use


# (container format, extension, codec, sample rate, layout, with video)
CASES = [
    ("mp4", "mp4", "aac", 44100, "stereo", True),
    ("mp4", "mp4", "aac", 8000, "mono", False),
    ("mp4", "mp4", "aac", 48000, "5.1", True),
    ("matroska", "mkv", "aac", 22050, "mono", True),
    ("matroska", "mkv", "libopus", 48000, "5.1", False),
    ("webm", "webm", "libopus", 48000, "stereo", False),
    ("mp4", "mp4", "libopus", 48000, "mono", True),
    ("matroska", "mkv", "libmp3lame", 22050, "stereo", True),
    ("mp4", "mp4", "libmp3lame", 44100, "mono", False),
]


@pytest.fixture(scope="module")
def case_files(tmp_path_factory):
    """One 2 s file per CASE: a 440 Hz tone that starts at 1.0 s."""
    folder = tmp_path_factory.mktemp("audio_cases")
    files = {}
    for fmt, ext, codec, rate, layout, video in CASES:
        name = f"{codec}_{rate}_{layout}.{ext}"
        files[name] = write_media(
            folder / name, container_format=fmt, frames=grey_frames(48) if video else None,
            audio=tone(rate, 2.0, 440.0, onset_s=1.0), sample_rate=rate, layout=layout, audio_codec=codec,
        )  # fmt: skip
    return files


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[2]}-{c[3]}-{c[4]}-{c[1]}")
def test_span_is_cut_on_the_stream_timeline_and_keeps_the_pitch(case_files, case, decoder, only):
    only(decoder)
    path = case_files[f"{case[2]}_{case[3]}_{case[4]}.{case[1]}"]
    wave = decode_audio(path, 0.9, 0.5)
    assert wave.dtype == torch.float32 and wave.shape == (2, 8000)
    # The tone starts 1.0 s into the file: 0.1 s into a span that starts at 0.9 s.
    for channel in wave.numpy():
        assert abs(onset_s(channel, SR) - 0.1) <= 0.005
    tail = wave[0, 2400:].numpy()  # 0.25 s of steady tone
    assert abs(dominant_frequency(tail, SR) - 440.0) <= 4.4
    assert float(wave[1, 2400:].abs().max()) > 0.1  # the right channel carries it too


@pytest.mark.parametrize("decoder", DECODERS)
def test_span_from_the_start_of_an_aac_file_ignores_encoder_priming(case_files, decoder, only):
    only(decoder)
    wave = decode_audio(case_files["aac_44100_stereo.mp4"], 0.0, 1.5)
    assert wave.shape == (2, 24000)
    assert abs(onset_s(wave[0].numpy(), SR) - 1.0) <= 0.005


@pytest.mark.parametrize("decoder", DECODERS)
def test_whole_stream_is_trimmed_to_the_stream_duration(case_files, decoder, only):
    only(decoder)
    # AAC pads the last frame: 2.0 s of 44.1 kHz audio decodes to 2.02 s untrimmed.
    wave = decode_audio(case_files["aac_44100_stereo.mp4"])
    assert abs(wave.shape[1] - 2 * SR) <= 16  # within 1 ms
    assert abs(decode_audio(case_files["aac_44100_stereo.mp4"], 0.5).shape[1] - 1.5 * SR) <= 16


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("fmt, ext", [("mp4", "mp4"), ("matroska", "mkv")])
def test_audio_stream_that_starts_late_stays_in_sync(tmp_path, fmt, ext, decoder, only):
    only(decoder)
    # The audio stream starts 0.3 s after the video; its tone 0.7 s later, at 1.0 s.
    path = write_media(tmp_path / f"late.{ext}", container_format=fmt, frames=grey_frames(48),
                       audio=tone(48000, 1.7, 440.0, onset_s=0.7), sample_rate=48000, audio_start_s=0.3)
    assert abs(onset_s(decode_audio(path, 0.0, 1.5)[0].numpy(), SR) - 1.0) <= 0.005
    assert abs(onset_s(decode_audio(path, 0.9, 0.5)[0].numpy(), SR) - 0.1) <= 0.005


def test_a_seek_that_lands_past_the_span_start_is_redone_from_the_top(case_files, monkeypatch):
    # A negative margin makes the seek land 0.3 s after the span start, like a poor index.
    monkeypatch.setattr(audio_decode, "_SEEK_MARGIN_S", -0.3)
    wave = decode_audio(case_files["aac_44100_stereo.mp4"], 0.9, 0.5)
    assert abs(onset_s(wave[0].numpy(), SR) - 0.1) <= 0.005


@pytest.mark.parametrize("duration", [0.37, 1 / 3, 0.041666, 1.0])
def test_length_is_exactly_round_duration_times_rate(case_files, duration):
    wave = decode_audio(case_files["aac_8000_mono.mp4"], 0.25, duration)
    assert wave.shape == (2, round(duration * SR))


def test_other_sample_rates_are_honoured(case_files):
    wave = decode_audio(case_files["aac_44100_stereo.mp4"], 1.0, 0.5, sample_rate=24000)
    assert wave.shape == (2, 12000)
    assert abs(dominant_frequency(wave[0].numpy(), 24000) - 440.0) <= 4.4


def test_stereo_channels_keep_their_order(tmp_path):
    left, right = tone(48000, 1.0, 440.0), tone(48000, 1.0, 660.0)
    path = write_media(tmp_path / "lr.mp4", audio=np.stack([left, right]), sample_rate=48000)
    wave = decode_audio(path, 0.2, 0.5).numpy()
    assert abs(dominant_frequency(wave[0], SR) - 440.0) <= 4.4
    assert abs(dominant_frequency(wave[1], SR) - 660.0) <= 6.6


def test_five_one_is_downmixed_to_a_sane_stereo_level(case_files):
    wave = decode_audio(case_files["aac_48000_5.1.mp4"], 1.2, 0.5).numpy()
    # Every channel carries the tone at 0.5: FFmpeg's matrix sums to 1.2, scaled back to 1.0.
    peaks = np.abs(wave).max(axis=1)
    assert np.all(peaks > 0.9) and np.all(peaks <= 1.0)
    assert abs(dominant_frequency(wave[0], SR) - 440.0) <= 4.4


def test_mono_is_duplicated_to_both_channels(case_files):
    wave = decode_audio(case_files["aac_8000_mono.mp4"], 1.0, 0.5)
    assert torch.equal(wave[0], wave[1]) and float(wave.abs().max()) > 0.2


def test_normalize_scales_the_peak_and_leaves_silence_alone(tmp_path, case_files):
    loud = decode_audio(case_files["aac_44100_stereo.mp4"], 1.0, 0.5, normalize=True)
    assert abs(float(loud.abs().max()) - 0.95) < 1e-4
    quiet = write_media(tmp_path / "silence.mp4", audio=np.zeros(44100, np.float32))
    silent = decode_audio(quiet, 0.0, 0.5, normalize=True)
    assert float(silent.abs().max()) < 1e-4


@pytest.mark.parametrize("decoder", DECODERS)
def test_no_audio_stream_raises_no_audio_stream(tmp_path, decoder, only):
    only(decoder)
    path = write_media(tmp_path / "silent_video.mp4", frames=grey_frames(12))
    with pytest.raises(NoAudioStream) as err:
        decode_audio(path, 0.0, 0.25)
    assert str(path) in str(err.value)


def test_corrupt_header_names_the_file_and_every_decoder(tmp_path):
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8)
    with pytest.raises(MediaError) as err:
        decode_audio(path, 0.0, 0.5)
    message = str(err.value)
    assert str(path) in message
    for name in audio_decoders_available():
        assert f"[{name}]" in message


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        decode_audio(path)


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        decode_audio(tmp_path / "nope.mp4")


def test_truncated_mp4_without_index_fails_loudly(tmp_path, case_files):
    data = case_files["aac_44100_stereo.mp4"].read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])  # the moov index sits at the end
    with pytest.raises(MediaError) as err:
        decode_audio(path, 0.0, 0.5)
    assert str(path) in str(err.value)


def test_truncated_stream_span_beyond_the_cut_is_an_error(tmp_path):
    full = write_media(tmp_path / "full.mkv", container_format="matroska", audio=tone(44100, 4.0, 440.0),
                       audio_codec="aac")  # fmt: skip
    data = full.read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(data[: len(data) // 2])  # mkv stays readable up to the cut
    assert decode_audio(path, 0.2, 0.5).shape == (2, 8000)
    with pytest.raises(MediaError, match="short"):
        decode_audio(path, 3.0, 0.5)


def test_a_few_missing_ms_at_the_end_are_zero_padded(case_files):
    wave = decode_audio(case_files["aac_44100_stereo.mp4"], 1.02, 1.0)  # 2 % past the end
    assert wave.shape == (2, SR)
    assert float(wave[:, -300:].abs().max()) == 0.0
    assert float(wave[:, 1000:2000].abs().max()) > 0.4


@pytest.mark.parametrize("decoder", DECODERS)
def test_start_past_the_end_is_an_error(case_files, decoder, only):
    only(decoder)
    with pytest.raises(MediaError):
        decode_audio(case_files["aac_44100_stereo.mp4"], 5.0, 0.5)


@needs_ffmpeg
def test_ffmpeg_cli_takes_over_when_pyav_fails(monkeypatch, case_files):
    def broken(path, *args):
        raise MediaError(path, "simulated PyAV failure")

    monkeypatch.setitem(audio_decode._DECODERS, "pyav", broken)
    wave = decode_audio(case_files["aac_44100_stereo.mp4"], 0.9, 0.5)
    assert abs(onset_s(wave[0].numpy(), SR) - 0.1) <= 0.005


def test_when_every_decoder_fails_the_error_lists_each_one(monkeypatch, case_files):
    def failing(label):
        def decode(path, *args):
            raise MediaError(path, f"{label} exploded")

        return decode

    monkeypatch.setattr(audio_decode, "audio_decoders_available", lambda: ["pyav", "ffmpeg-cli"])
    monkeypatch.setitem(audio_decode._DECODERS, "pyav", failing("first"))
    monkeypatch.setitem(audio_decode._DECODERS, "ffmpeg-cli", failing("second"))
    path = case_files["aac_44100_stereo.mp4"]
    with pytest.raises(MediaError) as err:
        decode_audio(path, 0.0, 0.5)
    message = str(err.value)
    assert str(path) in message and "[pyav] first exploded" in message and "[ffmpeg-cli] second exploded" in message


def test_decoders_available_lists_pyav_first_and_the_cli_when_present():
    names = audio_decoders_available()
    assert names[0] == "pyav"
    assert ("ffmpeg-cli" in names) == (shutil.which("ffmpeg") is not None)


@pytest.mark.parametrize("decoder", DECODERS)
def test_non_ascii_file_name(tmp_path, decoder, only):
    only(decoder)
    path = write_media(tmp_path / "voix_été_日本語.mp4", audio=tone(44100, 1.0, 440.0, onset_s=0.5))
    wave = decode_audio(path, 0.25, 0.5)
    assert abs(onset_s(wave[0].numpy(), SR) - 0.25) <= 0.005


@pytest.mark.parametrize("start, duration", [(-0.1, 1.0), (0.0, 0.0), (0.0, float("nan"))])
def test_bad_arguments_are_rejected(case_files, start, duration):
    with pytest.raises(MediaError):
        decode_audio(case_files["aac_44100_stereo.mp4"], start, duration)


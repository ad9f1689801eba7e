"""Issue 24 item 1: a voice recorded with one channel polarity-inverted, and a voice on the
second audio stream of a file whose first stream is silent, both train with their voice, and
the run and `--check` say what was done (media made by ffmpeg and espeak-ng)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from conftest import tiny_config
from dataset_helpers import encode, load_tiny
from safetensors.torch import load_file

from extensions_built_in.diffusion_models.ltx2.audio_features import log_mel_spectrogram
from toolkit.atomic import atomic_save_tensors
from toolkit.dataset.audio_coverage import scan_audio
from toolkit.dataset.cache_integrity import CHECKSUM_KEY, tensors_checksum
from toolkit.dataset.window_plan import plan_clip
from toolkit.media.audio_decode import decode_audio
from toolkit.media.video_decode import probe_media
from toolkit.voice.similarity import to_mono_16k

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def check_cli(tmp_path, folder, capsys, model, **overrides) -> tuple[int, str]:
    """`run.py CONFIG --check` in this process: (exit code, stdout + stderr)."""
    import yaml

    import run

    config = tmp_path / "check.yaml"
    config.write_text(yaml.safe_dump(tiny_config(model, folder, tmp_path / "out", **overrides)))
    code = run.main([str(config), "--check"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def dataset(tmp_path, odd_media, *names: str):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in names:
        source = odd_media.get(name)
        shutil.copy(source, folder / source.name)
        (folder / source.name).with_suffix(".txt").write_text(f"a person says a sentence ({name})")
    return folder


def windows_plan(path):
    info = probe_media(path)
    return plan_clip(path, info.duration_s, info.has_audio, num_frames=9, fps=24, spread=False, auto_frames=False,
                     do_audio=True, seed=3)


@pytest.mark.parametrize("name", ["out_of_phase", "out_of_phase_pcm"])
def test_an_inverted_channel_is_measured_per_channel_and_keeps_its_voice(odd_media, name):
    reference = scan_audio(odd_media.get("in_phase"))
    coverage = scan_audio(odd_media.get(name))
    # The mono mix of this file is silence (PCM: exactly; AAC: 40 dB down): measured per
    # channel, the voice is as loud as the same voice recorded in phase.
    wave = decode_audio(odd_media.get(name), sample_rate=16000).numpy()
    assert np.abs(wave.mean(axis=0)).max() < 0.01 * np.abs(wave[0]).max()
    assert not coverage.silent and abs(coverage.peak_dbfs - reference.peak_dbfs) < 1.5
    assert coverage.inverted and not reference.inverted
    # Windows and their silent stretches are those of the in-phase recording (before: 'silent',
    # or AAC: mostly silence), and the speech detector (on the phase-safe mix) hears the voice.
    plan, control = windows_plan(odd_media.get(name)), windows_plan(odd_media.get("in_phase"))
    assert plan.audio_status is None
    assert [k == "silence" for k in plan.kinds] == [k == "silence" for k in control.kinds]
    assert control.coverage.has_speech and plan.coverage.has_speech
    # What the model hears does not depend on the inversion: the audio VAE takes each channel's
    # log-mel (a magnitude), so the recording trains as it is.
    wave = decode_audio(odd_media.get(name), 0.0, 1.0).unsqueeze(0)
    flipped = wave * torch.tensor([1.0, -1.0]).view(1, 2, 1)
    assert torch.equal(log_mel_spectrogram(wave, 64), log_mel_spectrogram(flipped, 64))
    # The speaker encoder's mono mix keeps the voice (a plain mean cancelled it).
    mono = to_mono_16k(decode_audio(odd_media.get(name), sample_rate=16000), 16000)
    assert 20 * np.log10(np.abs(mono).max()) > reference.peak_dbfs - 6


def test_a_voice_on_the_second_stream_is_picked_and_named(odd_media):
    coverage = scan_audio(odd_media.get("second_stream"))
    assert (coverage.stream, coverage.streams) == (1, 2) and not coverage.silent
    assert coverage.stream_name() == "audio stream #2 (voice, eng)"
    plan = windows_plan(odd_media.get("second_stream"))
    assert plan.audio_status is None and plan.audio_stream == 1
    voiced = decode_audio(odd_media.get("second_stream"), 0.5, 1.0, stream=plan.audio_stream)
    assert float(voiced.abs().max()) > 0.1  # the first stream is digital silence
    silent = windows_plan(odd_media.get("two_silent_streams"))
    assert silent.audio_status == "silent" and "its 2 audio streams are all silent" in silent.audio_problem


def test_check_passes_both_and_says_what_was_done(tmp_path, odd_media, capsys, tiny_model_dir):
    folder = dataset(tmp_path, odd_media, "out_of_phase", "second_stream", "two_silent_streams")
    code, out = check_cli(tmp_path, folder, capsys, tiny_model_dir)
    assert code == 2, out  # the clip whose two streams are both silent, and only it
    problems = out.split("problems (1):", 1)[1]
    assert "two_silent_streams.mp4: its 2 audio streams are all silent" in problems
    assert "out_of_phase.mp4" not in problems and "second_stream.mp4" not in problems
    assert f"{folder / 'out_of_phase.mp4'}: its two audio channels are polarity-inverted copies" in out
    assert (f"{folder / 'second_stream.mp4'}: audio stream #1 is silent; training uses audio stream #2 "
            "(voice, eng) of its 2") in out


def test_the_run_encodes_their_voice_and_replaces_a_voiceless_cache(tmp_path, odd_media, tiny_model_dir):
    folder = dataset(tmp_path, odd_media, "out_of_phase", "second_stream")
    model = load_tiny(tiny_model_dir)
    items, report, log = encode(model, folder, max_windows=1)  # one window a clip: quick
    assert items and all(item.audio_status == "ok" for item in items)
    assert report.silent_clips == [] and report.audio_encoded == len(items)
    notes = log.messages("info")
    assert any("out_of_phase.mp4: its two audio channels are polarity-inverted" in m for m in notes)
    assert any("second_stream.mp4: audio stream #1 is silent; training uses audio stream #2" in m for m in notes)
    # A cache written by a version that heard these clips as silent (no audio latent, status
    # "silent", a valid checksum) is replaced, not trusted.
    for cached in sorted((folder / "_latent_cache").glob("*.safetensors")):
        tensors = {"video_latent": load_file(cached)["video_latent"]}
        atomic_save_tensors(cached, tensors, {"audio_status": "silent", "num_audio_samples": "5333",
                                              "window_start_s": "0.0", CHECKSUM_KEY: tensors_checksum(tensors)})
    again, report, log = encode(model, folder, max_windows=1)
    assert [i.audio_status for i in again] == ["ok"] * len(items) and report.cache_hits == 0
    assert any("cached without voice ('silent'), but the clip's audio scan now finds sound" in m
               for m in log.messages("info"))


def test_the_reference_voice_hears_both(tmp_path, odd_media):
    from toolkit.voice.reference import dataset_clip_voices
    from toolkit.voice.similarity import SpeakerEncoder

    folder = dataset(tmp_path, odd_media, "out_of_phase", "second_stream")
    clips, embedded = dataset_clip_voices(str(folder), SpeakerEncoder(), False, None)
    assert embedded == 2
    assert [(c.excluded, c.speech_s > 2.0) for c in clips] == [(None, True), (None, True)], clips


@pytest.mark.parametrize("decoder", ["pyav", "ffmpeg-cli"])
def test_both_decoders_read_the_chosen_stream(odd_media, decoder, monkeypatch):
    from toolkit.errors import MediaError
    from toolkit.media import audio_decode

    if decoder == "ffmpeg-cli" and shutil.which("ffmpeg") is None:
        pytest.skip("needs the ffmpeg program")
    monkeypatch.setattr(audio_decode, "audio_decoders_available", lambda: [decoder])
    path = odd_media.get("second_stream")
    first, second = (decode_audio(path, 0.5, 1.0, stream=s) for s in (0, 1))
    assert float(first.abs().max()) == 0.0 and float(second.abs().max()) > 0.1
    with pytest.raises(MediaError, match=r"has 2 audio stream\(s\), no stream #3|has no audio stream #3"):
        decode_audio(path, 0.5, 1.0, stream=2)

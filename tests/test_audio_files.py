"""Audio-only dataset files (issue 27, item 1): .wav .flac .mp3 .m4a .ogg .opus beside clips
are found with their captions, planned and decoded through the same PyAV path as a clip's
audio (same failure rules: each bad file named, by the run and by --check), encoded by the
audio VAE only (cached without a video latent, once whatever the flips and resolutions),
counted as voice by the caching summary, --check and strict audio mode; an audio-only run
writes each sample's sound as a .wav beside its mp4."""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import copy_media, run_config, tiny_config
from dataset_helpers import AUDIO_CODECS, audio_file, encode, load_tiny
from safetensors import safe_open

from jobs.process.settings_build import strict_audio_settings
from toolkit.configuration.loader import validate_config_data
from toolkit.dataset.check import check_datasets
from toolkit.dataset.discovery import discover_dataset
from toolkit.dataset.items import load_audio_window
from toolkit.dataset.window_plan import plan_audio_file
from toolkit.errors import UserInputError
from toolkit.media.audio_decode import AUDIO_EXTENSIONS, decode_audio
from toolkit.train.strict_audio import Action, after_caching

FORMATS = AUDIO_CODECS


@pytest.fixture(scope="module")
def voice_folder(synthetic_dir, tmp_path_factory):
    """One clip with speech and two audio files of other clips' speech."""
    folder = copy_media(synthetic_dir, tmp_path_factory.mktemp("voices"), ["clip_000.mp4"])
    audio_file(synthetic_dir / "clip_001.mp4", folder / "line_a.wav", "a voice says a line")
    audio_file(synthetic_dir / "clip_002.mp4", folder / "line_b.flac", "a voice says another line")
    return folder


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_tiny(tiny_model_dir)


def test_every_audio_extension_is_found_and_decodes_as_a_clip_does(synthetic_dir, tmp_path):
    assert set(FORMATS) == set(AUDIO_EXTENSIONS)
    source = synthetic_dir / "clip_001.mp4"
    for ext in FORMATS:
        audio_file(source, tmp_path / f"line.{ext}")
    scan = discover_dataset(tmp_path)
    assert sorted(f.path.suffix[1:] for f in scan.audios) == sorted(FORMATS) and not scan.videos
    assert "6 audio files" in scan.summary()
    reference = decode_audio(source, 0.375, 0.375)  # the clip's own sound, as training decodes a clip
    for file in scan.audios:
        plan = plan_audio_file(file.path, num_frames=9, fps=24.0, auto_frames=False, seed=0)
        assert len(plan.windows) == 5, file.path  # a 2.04 s track gives five 0.375 s windows, as the clip
        audio, status, problem = load_audio_window(file, num_frames=9, fps=24.0, start_s=0.375, audio_normalize=False)
        assert status == "ok" and problem is None and audio.shape == (2, 6000), file.path
        level = float(audio.square().mean().sqrt() / reference.square().mean().sqrt())
        assert 0.7 < level < 1.3, (file.path, level)  # lossy codecs keep the loudness


def test_bad_audio_files_are_skipped_and_named_by_the_run_and_by_check(model, tiny_model_dir, synthetic_dir, tmp_path,
                                                                       capsys):
    folder = copy_media(synthetic_dir, tmp_path / "bad", ["clip_000.mp4"])
    audio_file(synthetic_dir / "clip_001.mp4", folder / "good.wav")
    (folder / "zero.mp3").write_bytes(b"")
    (folder / "garbage.ogg").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    with wave.open(str(folder / "silent.wav"), "wb") as writer:  # two seconds of digital silence
        writer.setnchannels(1), writer.setsampwidth(2), writer.setframerate(16000)
        writer.writeframes(b"\0\0" * 32000)
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-i", str(synthetic_dir / "clip_002.mp4"), "-vn",
                    "-t", "0.2", str(folder / "short.flac")], check=True, capture_output=True)
    for name in ("zero", "garbage", "silent", "short"):
        (folder / f"{name}.txt").write_text(f"the {name} file")
    bad = {"zero.mp3", "garbage.ogg", "silent.wav", "short.flac"}

    items, report, log = encode(model, folder, cache_to_disk=False)
    assert {Path(p).name for p, _ in report.skipped} == bad
    warned = " ".join(log.messages("warning"))
    assert all(f"skipping {folder / name}" in warned for name in bad)
    assert "its audio track is silent" in warned and "file is empty" in warned
    assert "the audio file is 0.200 s long, shorter than one window (0.375 s" in warned
    assert {Path(i.path).name for i in items if i.audio_only} == {"good.wav"}

    process = validate_config_data(tiny_config(tiny_model_dir, folder, tmp_path / "out")).job.config.process[0]
    with pytest.raises(UserInputError) as err:
        check_datasets(process, show_progress=False)
    out = capsys.readouterr().out
    problems = out.split("problems (", 1)[1].splitlines()[1:]
    named = {line.strip().split(":", 1)[0].rsplit("/", 1)[-1] for line in problems if line.startswith("    ")}
    assert named == bad, out
    assert "files: 6 = 1 clips + 0 images + 5 audio files (4 unreadable)" in out
    assert "audio files: 5, 2.04-2.04 s long, 5 windows" in out and "4 problems in 4 files" in str(err.value)


def test_audio_files_encode_once_without_a_video_latent_and_count_as_voice(model, tiny_model_dir, voice_folder, capsys,
                                                                           tmp_path):
    items, report, _ = encode(model, voice_folder, flip_x=True)  # flips do not apply to sound
    audio_items = [i for i in items if i.audio_only]
    clips = [i for i in items if not i.audio_only]
    assert len(audio_items) == 10 and len(clips) == 10  # 5 windows per file; the clip twice (flip_x)
    placeholder = model.placeholder_video_latent()
    assert all(torch.equal(i.video_latent, placeholder) and i.has_audio for i in audio_items)
    assert {i.audio_latent.shape for i in items} == {clips[0].audio_latent.shape}, "same audio length as a clip window"
    assert {i.bucket_key() for i in audio_items}.isdisjoint({i.bucket_key() for i in clips})
    assert "10 of them from audio files" in report.summary(None)
    cached = sorted((voice_folder / "_latent_cache").glob("line_a_*.safetensors"))
    assert len(cached) == 5
    with safe_open(str(cached[0]), "pt") as handle:
        assert set(handle.keys()) == {"audio_latent"} and handle.metadata()["kind"] == "audio"

    again, report2, _ = encode(model, voice_folder, flip_x=True)
    assert report2.cache_hits == 20 and report2.audio_file_items == 10
    assert all(torch.equal(a.audio_latent, b.audio_latent) and a.audio_only == b.audio_only for a, b in zip(
        items, again, strict=True))
    second_resolution, _, _ = encode(model, voice_folder, resolution=96, encode_audio_files=False)
    assert not any(i.audio_only for i in second_resolution), "a second resolution adds no sound again"

    # Strict mode counts an audio file's windows as a clip's: each should carry a voice, and
    # those the speech detector hears count as speech (the windows of espeak-ng words over a
    # tone: some are speech, some only the tone).
    assert any(i.speech for i in audio_items) and not all(i.speech for i in audio_items)
    speaking = sum(i.speech for i in items)
    train = validate_config_data(tiny_config(Path("unused"), voice_folder, Path("unused"), **{
        "train.strict_audio_mode": True, "train.strict_audio_min_supervised_ratio": speaking / len(items)}
    )).job.config.process[0].train
    verdict = after_caching(strict_audio_settings(train), items)
    assert verdict.action is Action.TRAIN
    assert f"{speaking} of 20 items that should carry a voice have speech" in verdict.message

    process = validate_config_data(tiny_config(tiny_model_dir, voice_folder, tmp_path)).job.config.process[0]
    check_datasets(process, show_progress=False)
    out = capsys.readouterr().out
    assert "audio files: 2, 2.04-2.04 s long, 10 windows of 0.375 s" in out
    # two window sets per file, each window named by the speech detector as a clip's is
    checked = re.search(r"audio: 30 windows checked \(.*\): (\d+) speech, (\d+) non-speech audio", out)
    assert checked and int(checked[1]) > 0 and int(checked[1]) + int(checked[2]) == 30, out
    assert "in 3 of 3 clips and audio files" in out
    assert "items per epoch: 15" in out


def test_an_audio_only_run_writes_each_samples_sound_as_a_wav(tiny_model_dir, voice_folder, tmp_path):
    folder = tmp_path / "only_audio"
    folder.mkdir()
    for name in ("line_a.wav", "line_a.txt"):
        shutil.copy2(voice_folder / name, folder / name)
    proc = run_config(tiny_config(tiny_model_dir, folder, tmp_path / "out", name="wavs", steps=1, **{
        "train.disable_sampling": False, "sample.voice_metric": False, "datasets.0.window_variants": 1}))
    samples = proc.out.folder / "samples"
    mp4, wav_path = samples / "000000001_00.mp4", samples / "000000001_00.wav"
    assert mp4.is_file() and wav_path.is_file()
    from_mp4 = decode_audio(mp4, sample_rate=proc.model.vocoder_sample_rate)
    with wave.open(str(wav_path)) as reader:
        assert reader.getnchannels() == 2 and reader.getframerate() == proc.model.vocoder_sample_rate
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2).T / 32767.0
    assert abs(pcm.shape[1] - from_mp4.shape[1]) <= 1024, "the same sound as the mp4's (AAC pads one frame)"
    metrics = (proc.out.folder / "metrics.jsonl").read_text()
    assert '"audio_only_items": 1' in metrics and '"video_scored_items": 0' in metrics

"""Issue 16 items 2-3: the reference voice of the training clips (speech only; silent and
tone-only clips excluded and counted; cached beside the latents and reused) and the
per-sample similarity of a run, in metrics.jsonl, status.json and on the console.

The tiny model's samples are noise, so the run test swaps the audio the tiny pipeline
generated for espeak-ng speech (the pipeline still runs; the trainer's writing, decoding,
scoring and reporting are what is tested)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import copy_media, run_config, tiny_config

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model
from toolkit.configuration.loader import validate_config_data
from toolkit.media.mp4_writer import write_mp4
from toolkit.voice.reference import CACHE_NAME, build_reference_voice
from toolkit.voice.similarity import SpeakerEncoder

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def speak(text: str, voice: str, folder: Path) -> tuple[np.ndarray, int]:
    path = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as reader:
        rate = reader.getframerate()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").astype(np.float32) / 32768.0
    return pcm, rate


def write_clip(path: Path, sound: np.ndarray, rate: int) -> None:
    frames = np.full((17, 64, 64, 3), 90, np.uint8)
    write_mp4(path, frames, 24, np.stack([sound, sound]).astype(np.float32), rate)
    path.with_suffix(".txt").write_text("a grey square", encoding="utf-8")


@pytest.fixture(scope="module")
def voice_data(synthetic_dir, tmp_path_factory):
    """Two clips of the character speaking (espeak-ng's default English voice, over a quiet
    tone bed), one silent clip, one tone-only clip and an image."""
    folder = copy_media(synthetic_dir, tmp_path_factory.mktemp("voice"), ["image_000.png"])
    for name, text in (("speech_a", "My name is Tom and I live by the old mill."),
                       ("speech_b", "Every morning I walk the dog along the green hills.")):
        pcm, rate = speak(text, "en", folder)
        bed = 0.05 * np.sin(2 * np.pi * 220 * np.arange(pcm.size) / rate)
        write_clip(folder / f"{name}.mp4", (0.7 * pcm + bed).astype(np.float32), rate)
    rate = 16000
    t = np.arange(2 * rate) / rate
    write_clip(folder / "silent.mp4", np.zeros(t.size, np.float32), rate)
    write_clip(folder / "tone.mp4", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), rate)
    return folder


@pytest.fixture(scope="module")
def encoder():
    return SpeakerEncoder()


class Log:
    def __init__(self):
        self.lines = []

    def warning(self, message):
        self.lines.append(message)

    info = warning


def dataset_configs(folder: Path, cache: bool = True):
    cfg = tiny_config(Path("unused"), folder, Path("unused"), **{"datasets.0.cache_latents_to_disk": cache})
    return validate_config_data(cfg).job.config.process[0].datasets


def test_reference_voice_uses_speech_only_and_is_cached(voice_data, encoder, tmp_path):
    folder = copy_media(voice_data, tmp_path / "data", sorted(p.name for p in voice_data.iterdir()
                                                               if p.suffix in (".mp4", ".png")))
    first = build_reference_voice(dataset_configs(folder), encoder, Log())
    counts = first.counts()
    assert counts["clips"] == 2 and counts["excluded_no_speech"] == 2, first.clips
    assert sorted(Path(c.path).name for c in first.used) == ["speech_a.mp4", "speech_b.mp4"]
    assert counts["embedded_now"] == 4 and 3.0 < counts["speech_s"] < 8.0
    assert abs(np.linalg.norm(first.vector) - 1.0) < 1e-5
    assert (folder / "_latent_cache" / CACHE_NAME).is_file()

    # A resumed run reads the cache: nothing is embedded again, the same reference comes back.
    again = build_reference_voice(dataset_configs(folder), encoder, Log())
    assert again.counts()["embedded_now"] == 0 and again.counts()["from_cache"] == 4
    assert np.allclose(again.vector, first.vector)

    # A changed clip is embedded again; the others still come from the cache.
    pcm, rate = speak("Now a different speaker says a whole sentence here.", "en-us+f4", tmp_path)
    write_clip(folder / "silent.mp4", pcm, rate)
    changed = build_reference_voice(dataset_configs(folder), encoder, Log())
    assert changed.counts()["embedded_now"] == 1 and changed.counts()["clips"] == 3
    assert float(changed.vector @ first.vector) < 0.999  # the new voice moved the reference

    # Without the disk cache nothing is written.
    plain = copy_media(voice_data, tmp_path / "plain", ["speech_a.mp4"])
    build_reference_voice(dataset_configs(plain, cache=False), encoder, Log())
    assert not (plain / "_latent_cache" / CACHE_NAME).exists()


def test_audio_files_are_part_of_the_reference_voice(encoder, tmp_path):
    folder = tmp_path / "lines"
    folder.mkdir()
    speak("My name is Tom and I read these lines aloud.", "en", tmp_path)
    (tmp_path / "speech.wav").rename(folder / "line.wav")  # an audio-only dataset file, as espeak-ng wrote it
    (folder / "line.txt").write_text("Tom reads a line", encoding="utf-8")
    reference = build_reference_voice(dataset_configs(folder), encoder, Log())
    assert [Path(c.path).name for c in reference.used] == ["line.wav"] and reference.vector is not None


def test_run_scores_every_sample_against_reference_and_base(tiny_model_dir, voice_data, tmp_path, monkeypatch):
    """Step 0, which is also the base sample (the zero-initialised LoRA renders what the base
    model renders: one render, copied into samples/base/), speaks in the training clips' voice,
    step 1 the same voice another sentence, step 2 a different voice: the numbers must say so."""
    base = speak("Seven red circles roll across the table today.", "en", tmp_path)
    lines = [
        base,  # step 0 and the base sample (tests/test_base_samples.py: how it is made and kept)
        speak("Hello there, the river is calm this evening.", "en", tmp_path),
        speak("Hello there, the river is calm this evening.", "en-us+f4", tmp_path),
    ]
    calls = []
    real = LTX2Model.generate

    def generate_with_speech(self, **kwargs):
        frames, _audio, _rate = real(self, **kwargs)
        pcm, rate = lines[len(calls)]
        calls.append(kwargs["prompt"])
        return frames, torch.from_numpy(np.stack([pcm, pcm])), rate

    monkeypatch.setattr(LTX2Model, "generate", generate_with_speech)
    data = copy_media(voice_data, tmp_path / "data", ["speech_a.mp4", "speech_b.mp4", "silent.mp4"])
    cfg = tiny_config(tiny_model_dir, data, tmp_path / "out", name="voice", steps=2, **{
        "train.disable_sampling": False, "train.skip_first_sample": False, "datasets.0.window_variants": 1,
        "sample": {"sample_every": 1, "width": 64, "height": 64, "num_frames": 9, "sample_steps": 2,
                   "guidance_scale": 1.0, "samples": [{"prompt": "a red circle"}]},
    })
    proc = run_config(cfg)
    assert len(calls) == 3
    rows = [json.loads(line) for line in proc.out.metrics_path.read_text().splitlines()]
    voice = {row["step"]: row for row in rows if "voice_similarity" in row}
    assert sorted(voice) == [0, 1, 2]
    sim = {step: voice[step]["voice_similarity_00"] for step in voice}
    vs_base = {step: voice[step]["voice_vs_base_00"] for step in voice}
    assert sim[0] > 0.7 and sim[1] > 0.7, sim
    assert sim[2] < min(sim[0], sim[1]) - 0.1, sim  # another voice: clearly lower
    assert vs_base[0] == pytest.approx(1.0, abs=1e-6)  # the same speech as the base sample
    assert vs_base[1] > vs_base[2] + 0.1, vs_base
    assert all(voice[s]["voice_baseline_00"] == pytest.approx(sim[0]) for s in voice)
    assert all(voice[s]["voice_speech_s_00"] > 1.0 for s in voice)
    # The loss rows are untouched by the voice rows (separate lines of the same file).
    assert any("loss" in row and "voice_similarity" not in row for row in rows)

    status = json.loads(proc.out.status_path.read_text())
    assert status["voice"]["reference"]["clips"] == 2
    assert status["voice"]["reference"]["excluded_no_speech"] == 1
    assert status["voice"]["prompts"] == ["a red circle"]
    assert status["voice"]["baseline"] == [pytest.approx(sim[0])]
    assert [h["step"] for h in status["voice"]["history"]] == [0, 1, 2]
    assert status["voice"]["history"][2]["similarity"] == [pytest.approx(sim[2])]
    # each sample's seconds of speech: the job page says "no speech in the samples" from these
    assert status["voice"]["history"][2]["speech_s"] == [voice[2]["voice_speech_s_00"]]
    log = (proc.out.folder / "log.txt").read_text()
    assert "reference voice: 2 clips with speech" in log and "voice similarity at step 2: mean" in log
    assert re.search(r"clips from the cache; built in \d+\.\d s\n", log)  # a time, not audio seconds


def test_voice_metric_defaults_and_switch(tiny_model_dir, voice_data, tmp_path):
    def process(**overrides):
        return validate_config_data(tiny_config(tiny_model_dir, voice_data, tmp_path, **overrides)).job.config.process[0]

    assert process().sample.voice_metric is True  # a video dataset: do_audio defaults on
    assert process(**{"datasets.0.do_audio": False}).sample.voice_metric is False
    assert process(**{"sample.voice_metric": False}).sample.voice_metric is False


def test_resume_rebuilds_the_chart_history_from_metrics(voice_data, encoder, tmp_path):
    from toolkit.run.output import RunOutput
    from toolkit.voice.metric import VoiceMetric

    out = RunOutput(tmp_path / "run", "run")
    out.append_metrics({"step": 5, "loss": 1.0})
    out.append_metrics({"step": 10, "voice_similarity": 0.7, "voice_similarity_00": 0.7, "voice_vs_base_00": 0.9,
                        "voice_speech_s_00": 1.25})
    out.append_metrics({"step": 20, "voice_similarity": 0.6, "voice_similarity_00": 0.6, "voice_vs_base_00": None})
    out.append_metrics({"step": 20, "voice_similarity": 0.65, "voice_similarity_00": 0.65, "voice_vs_base_00": 0.8})
    reference = build_reference_voice(dataset_configs(copy_media(voice_data, tmp_path / "d", ["speech_a.mp4"])),
                                      encoder, Log())
    VoiceMetric(out, encoder, reference, ["a red circle"], [out.base_samples / "0123456789abcdef.mp4"])
    out.close()
    status = json.loads(out.status_path.read_text())
    assert status["voice"]["history"] == [{"step": 10, "similarity": [0.7], "vs_base": [0.9], "speech_s": [1.25]},
                                          {"step": 20, "similarity": [0.65], "vs_base": [0.8], "speech_s": [None]}]
    assert status["voice"]["baseline"] == [None]  # no base sample in this folder (yet)


def test_missing_scorer_package_is_a_clear_input_error(tiny_model_dir, voice_data, tmp_path, monkeypatch):
    import importlib.util

    from toolkit.errors import UserInputError
    from toolkit.run.output import RunOutput
    from toolkit.run.sampling import sample_jobs
    from toolkit.voice.metric import VoiceMetric

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resemblyzer" else real(name, *a))
    process = validate_config_data(tiny_config(tiny_model_dir, voice_data, tmp_path, **{
        "train.disable_sampling": False})).job.config.process[0]
    out = RunOutput(tmp_path / "run", "run")
    with pytest.raises(UserInputError, match=r"resemblyzer is not installed.*--no-deps resemblyzer==0.1.4.*voice_metric: false"):
        VoiceMetric.setup(process, out, True, sample_jobs(process.sample, None))
    out.close()

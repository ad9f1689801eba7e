"""Issue 24 item 8: every slow phase shows progress, on the console (a bar) and in log.txt (a
line every few seconds, for the web UI, which reads the log and no console): the reference
voice, the base samples, sampling, and caching (test_user_folders.py: audio scans and cache
verification run inside it). The line interval is set to 0 here, so every item but the last
writes its line; what the phases do is the real work (espeak-ng speech, the tiny model)."""

from __future__ import annotations

import shutil

import pytest

import toolkit.run.progress as progress_module
from toolkit.run.output import RunOutput


@pytest.fixture
def every_item(monkeypatch):
    monkeypatch.setattr(progress_module, "LOG_EVERY_S", 0.0)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_the_reference_voice_shows_progress(tmp_path, odd_media, capsys, every_item):
    from toolkit.voice.reference import dataset_clip_voices
    from toolkit.voice.similarity import SpeakerEncoder

    folder = tmp_path / "voices"
    folder.mkdir()
    for name in ("in_phase", "out_of_phase", "second_stream"):
        shutil.copy(odd_media.get(name), folder / f"{name}.mp4")
    out = RunOutput(tmp_path / "run", "run")
    try:
        dataset_clip_voices(str(folder), SpeakerEncoder(), False, out)
    finally:
        out.close()
    log = out.log_path.read_text()
    assert "reference voice voices: 1/3 clips" in log and "(last: in_phase.mp4)" in log
    assert "reference voice voices: 2/3 clips" in log and "(last: out_of_phase.mp4)" in log
    assert "reference voice voices" in capsys.readouterr().err  # the console bar
    assert "reference voice" not in capsys.readouterr().out


def test_base_samples_and_samples_show_progress(tmp_path, tiny_model_dir, capsys, every_item):
    from dataset_helpers import load_tiny

    from toolkit.lora.network import Network, NetworkSettings
    from toolkit.run.sampling import SampleJob, render_samples
    from toolkit.voice.base_samples import render_base_samples

    model = load_tiny(tiny_model_dir)
    network = Network(model.transformer, NetworkSettings(rank=4, alpha=4, model_version="2.0"))
    jobs = [SampleJob(prompt=f"a red circle {i}", negative="", width=64, height=64, num_frames=9, fps=24.0,
                      steps=2, guidance_scale=1.0, seed=i) for i in range(2)]
    out = RunOutput(tmp_path / "run", "run")
    try:
        render_base_samples(model, network, jobs, [out.base_samples / f"{i}.mp4" for i in range(2)], log=out)
        render_samples(model, jobs, out.samples, 7, log=out)
    finally:
        out.close()
    log = out.log_path.read_text()
    assert "base samples: 1/2 samples" in log and "(last: 0.mp4)" in log
    assert "sampling step 7: 1/2 samples" in log and "(last: 000000007_00.mp4)" in log
    err = capsys.readouterr().err
    assert "base samples" in err and "sampling step 7" in err

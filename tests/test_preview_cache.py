"""`python -m toolkit.preview_cache CFG`: cached latents (tiny model) decoded back to mp4 files
with sound. The decoders invert the encoder's normalisation exactly: decoding a cached latent
gives what the VAEs and vocoder give for the raw (unnormalised) latent of the same clip."""

from __future__ import annotations

import runpy
import sys

import av
import pytest
import torch
import yaml
from conftest import tiny_config
from dataset_helpers import encode, load_tiny, noise_clip
from diffusers import LTX2Pipeline

from extensions_built_in.diffusion_models.ltx2.audio_features import log_mel_spectrogram
from extensions_built_in.diffusion_models.ltx2.decode_latents import decode_audio, decode_video
from jobs.process.cache_preview import main as preview_main
from toolkit.media.audio_decode import decode_audio as read_audio


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_tiny(tiny_model_dir)


@pytest.fixture(scope="module")
def cached(model, tmp_path_factory):
    """Two clips whose latents are cached on disk (the dataset encoder's cache files), and
    their items."""
    folder = tmp_path_factory.mktemp("cached") / "data"
    folder.mkdir()
    noise_clip(folder / "a.mp4", frames=10)
    noise_clip(folder / "b.mp4", frames=10, seed=1)
    items, _, _ = encode(model, folder)
    return folder, items


def test_decoding_inverts_the_cache_normalisation(model, cached):
    folder, items = cached
    item = next(i for i in items if "a.mp4" in str(i.path))
    frames = decode_video(model.vae, item.video_latent)
    with torch.no_grad():
        raw = LTX2Pipeline._denormalize_latents(item.video_latent[None], model.vae.latents_mean,
                                                model.vae.latents_std, model.vae.config.scaling_factor)
        timestep = torch.zeros(1) if model.vae.config.timestep_conditioning else None
        direct = model.vae.decode(raw, timestep, return_dict=False)[0][0]
    expect = ((direct.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0)
    assert frames.shape == (9, 64, 64, 3) and torch.equal(frames, expect)

    wave, rate = decode_audio(model.audio_vae, model.vocoder, item.audio_latent)
    with torch.no_grad():  # the audio path without any packing or normalisation
        clip = read_audio(folder / "a.mp4", item.window_start_s, 9 / 24, sample_rate=16000)[None]
        mel = log_mel_spectrogram(clip, n_mels=model.audio_mel_bins)
        latent = model.audio_vae.encode(mel).latent_dist.mode()
        direct_wave = model.vocoder(model.audio_vae.decode(latent, return_dict=False)[0])[0].clamp(-1, 1)
    assert rate == model.vocoder_sample_rate
    torch.testing.assert_close(wave, direct_wave, atol=1e-5, rtol=1e-4)


def test_preview_cache_writes_one_mp4_with_sound_per_cached_item(tiny_model_dir, cached, model, tmp_path,
                                                                  monkeypatch, capsys):
    folder, _ = cached
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, folder, tmp_path / "out", name="pv")))
    # The command as `python -m toolkit.preview_cache CFG` runs it, in this process (a new
    # interpreter would spend most of the test importing torch and diffusers again).
    monkeypatch.setattr(sys, "argv", ["toolkit.preview_cache", str(config)])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("toolkit.preview_cache", run_name="__main__")
    assert exited.value.code == 0, capsys.readouterr().err
    made = sorted((tmp_path / "out" / "pv" / "cache_preview" / "1").glob("*.mp4"))
    assert len(made) == 2
    for path in made:
        with av.open(str(path)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 9
            assert container.streams.audio[0].sample_rate == model.vocoder_sample_rate
    empty = tmp_path / "empty"
    empty.mkdir()
    noise_clip(empty / "c.mp4", frames=10)
    config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, empty, tmp_path / "out", name="pv")))
    assert preview_main([str(config)]) == 2
    assert "no cached latents" in capsys.readouterr().err

"""Voice-correct training (issue 3): timesteps, balance, mixed batches, preservation,
audio-free LoRAs, freezing, scalar audio loss, old configs (strict audio mode: test_strict_audio.py)."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from conftest import copy_media, prepared, run_config, tiny_config

from toolkit.data_transfer_object.data_loader import EncodedItem, collate
from toolkit.train.audio_balance import AudioLossBalancer
from toolkit.train.timestep_samplers import sample_sigmas


def spy_transformer(proc) -> list[dict]:
    calls: list[dict] = []
    original = proc.model.transformer.forward

    def spy(*args, **kwargs):
        calls.append({k: kwargs[k].detach().clone() for k in ("timestep", "audio_timestep", "sigma", "audio_sigma")})
        return original(*args, **kwargs)

    proc.model.transformer.forward = spy
    return calls


@pytest.mark.parametrize("independent", [True, False])
def test_independent_audio_timestep_reaches_the_transformer(independent, tiny_model_dir, clip_data, tmp_path):
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, **{"train.independent_audio_timestep": independent,
                                                              "train.batch_size": 2})
    proc = prepared(cfg)
    calls = spy_transformer(proc)
    for _ in range(3):
        proc.train_step()
    assert len(calls) == 3
    for call in calls:
        assert call["timestep"].shape == (2,) and call["audio_timestep"].shape == (2,)
        assert torch.equal(call["sigma"], call["timestep"]) and torch.equal(call["audio_sigma"], call["audio_timestep"])
        same = torch.allclose(call["timestep"], call["audio_timestep"])
        assert same != independent


def test_each_modality_is_shifted_by_its_own_token_count(tiny_model_dir, clip_data, tmp_path, monkeypatch):
    import extensions_built_in.sd_trainer.SDTrainer as sd

    seen = []

    def recording(kind, batch, token_count, generator=None, content_or_style="balanced"):
        seen.append((kind, token_count))
        return sample_sigmas(kind, batch, token_count, generator, content_or_style)

    monkeypatch.setattr(sd, "sample_sigmas", recording)
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, **{"train.timestep_type": "shift"}))
    proc.train_step()
    batch = proc.batches.build([proc.items[0]])
    video_tokens = proc.model.video_token_count(tuple(batch.video_latents.shape))
    assert seen == [("shift", video_tokens), ("shift", batch.audio_latents.shape[1])]
    # and the shift really depends on the count: few tokens -> lower noise on average
    g = torch.Generator().manual_seed(0)
    low = sample_sigmas("shift", 4000, 26, g).mean()
    high = sample_sigmas("shift", 4000, 4096, g).mean()
    assert low < high - 0.1


def test_balancer_dampens_audio_when_it_dominates():
    balancer = AudioLossBalancer()
    for _ in range(2000):
        mult = balancer.update(audio_loss=0.45, video_loss=0.25)
    assert mult < 1.0
    assert mult == pytest.approx(0.33 * 0.25 / 0.45, rel=1e-3)


def test_balancer_boosts_audio_when_video_dominates_and_respects_clamp():
    balancer = AudioLossBalancer()
    for _ in range(500):
        mult = balancer.update(audio_loss=0.05, video_loss=0.4)
    assert mult > 1.0
    extreme = AudioLossBalancer()
    values = [extreme.update(a, v) for a, v in [(1e-6, 10.0), (100.0, 1e-6)] * 200]
    assert all(0.05 <= m <= 20.0 for m in values)
    assert min(AudioLossBalancer().update(100.0, 1e-6) for _ in range(3)) == 0.05
    assert AudioLossBalancer().update(1e-6, 100.0) == 20.0


def test_balancer_state_round_trips():
    a = AudioLossBalancer()
    for i in range(10):
        a.update(0.3 + i * 0.01, 0.2)
    b = AudioLossBalancer()
    b.load_state_dict(a.state_dict())
    assert b.update(0.4, 0.2) == a.update(0.4, 0.2)


def test_manual_multiplier_used_when_auto_balance_off(tiny_model_dir, clip_data, tmp_path):
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, **{"train.auto_balance_audio_loss": False,
                                                              "train.audio_loss_multiplier": 2.5})
    proc = prepared(cfg)
    metrics = proc.train_step()
    assert metrics["audio_multiplier"] == 2.5
    assert metrics["audio_loss_scaled"] == pytest.approx(2.5 * metrics["audio_loss_raw"], rel=1e-5)


def test_mixed_batch_keeps_audio_when_first_item_has_none():
    silence = torch.full((5, 32), -3.0)
    video = torch.zeros(32, 2, 2, 2)
    items = [
        EncodedItem("a.png", "a", video, None, "image", 24.0, 6000),
        EncodedItem("b.mp4", "b", video, torch.ones(5, 32), "ok", 24.0, 6000),
    ]
    batch = collate(items, prompt=None, silence_latent=silence)
    assert batch.audio_supervised.tolist() == [False, True]
    assert batch.audio_per_item[0] is None and torch.equal(batch.audio_per_item[1], torch.ones(5, 32))
    assert torch.equal(batch.audio_latents[0], silence) and torch.equal(batch.audio_latents[1], torch.ones(5, 32))


def test_silence_latent_is_duration_matched(tiny_model_dir, clip_data, tmp_path):
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path))
    clip = proc.items[0]
    silence = proc.batches.silence(clip.num_audio_samples)
    assert silence.shape == clip.audio_latent.shape


def test_mixed_dataset_trains_with_per_item_supervision(tiny_model_dir, mixed_data, tmp_path):
    proc = prepared(tiny_config(tiny_model_dir, mixed_data, tmp_path, **{"train.audio_preservation": "silence"}))
    statuses = sorted(item.audio_status for item in proc.items)
    assert statuses.count("image") == 1 and set(statuses) == {"image", "ok"}  # the clip gives several windows
    image = next(i for i in proc.items if i.audio_status == "image")
    batch = proc.batches.build([image])
    metrics = proc.trainer.compute(batch).metrics
    assert metrics["audio_supervised_items"] == 0 and metrics["audio_loss_raw"] == 0.0
    assert metrics["audio_preservation_loss"] > 0.0, "silence preservation must act on audio-free items"


def _drift_after_image_training(mode, tiny_model_dir, data, tmp_path) -> float:
    from bench.audio_preservation import audio_drift

    prompts = ["a red circle moving left", "a blue square"]
    # sample prompts (never sampled: sample_every > steps): the run keeps their text and the
    # audio VAE, which the drift measure needs after the caption and clip phases
    proc = prepared(tiny_config(tiny_model_dir, data, tmp_path / mode, steps=25,
                                **{"train.audio_preservation": mode, "train.lr": 1e-2,
                                   "datasets.0.do_audio": True, "network.train_audio_modules": True,
                                   "train.disable_sampling": False,
                                   "sample.samples": [{"prompt": p} for p in prompts]}))
    for _ in range(25):
        proc.train_step()
    return audio_drift(proc, prompts)


def test_base_preservation_keeps_audio_closer_to_base_than_none(tiny_model_dir, synthetic_dir, tmp_path):
    data = copy_media(synthetic_dir, tmp_path / "images", ["image_000.png", "image_001.png"])
    drift_none = _drift_after_image_training("none", tiny_model_dir, data, tmp_path)
    drift_base = _drift_after_image_training("base", tiny_model_dir, data, tmp_path)
    assert drift_base < 0.5 * drift_none, (drift_base, drift_none)


def test_video_only_lora_carries_no_audio_keys(tiny_model_dir, clip_data, tmp_path):
    from safetensors.torch import load_file

    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="vonly", steps=2, **{"datasets.0.do_audio": False})
    proc = run_config(cfg)
    keys = load_file(str(proc.out.folder / "vonly.safetensors")).keys()
    audio_names = ("audio_attn1", "audio_attn2", "audio_ff", "audio_to_video_attn", "video_to_audio_attn")
    assert keys and not any(name in key for key in keys for name in audio_names)
    # the override puts them back
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="vforce", steps=1,
                      **{"datasets.0.do_audio": False, "network.train_audio_modules": True})
    keys = load_file(str(run_config(cfg).out.folder / "vforce.safetensors")).keys()
    assert any("audio_attn1" in key for key in keys)


def test_frozen_components_get_no_gradients(tiny_model_dir, clip_data, tmp_path):
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path))
    proc.train_step()
    m = proc.model
    assert m.text_encoder is None  # freed after the caption phase (docs/memory.md, Phases)
    for module in (m.vae, m.audio_vae, m.vocoder, m.connectors):
        if module is None:  # freed when training began: nothing of it can take a gradient
            continue
        assert not module.training
        assert all(not p.requires_grad and p.grad is None for p in module.parameters())
    base = [p for n, p in m.transformer.named_parameters() if "lora_" not in n]
    assert all(not p.requires_grad and p.grad is None for p in base)
    assert all(p.grad is not None for p in proc.network.parameters())


def test_train_text_encoder_trains_connectors_through_the_network(tiny_model_dir, clip_data, tmp_path):
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, **{"train.train_text_encoder": True}))
    proc.train_step()
    connector_lora = [p for n, p in proc.model.connectors.named_parameters() if "lora_B" in n]  # A has zero grad while B = 0
    assert connector_lora and all(p.grad is not None and p.grad.abs().sum() > 0 for p in connector_lora)
    assert all(p.grad is None for n, p in proc.model.connectors.named_parameters() if "lora_" not in n)
    assert proc.model.text_encoder is None  # Gemma: freed after the caption phase, it can take no gradient


def test_audio_prediction_does_not_outlive_the_loss(tiny_model_dir, clip_data, tmp_path):
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path))
    refs = []
    original = proc.model.predict

    def tracking(*args, **kwargs):
        video, audio = original(*args, **kwargs)
        refs.append(weakref.ref(audio))
        return video, audio

    proc.model.predict = tracking
    batch = proc.batches.build([proc.items[0]])
    losses = proc.trainer.compute(batch)
    gc.collect()
    assert refs and refs[0]() is None, "the audio prediction tensor must be released inside the step"
    assert losses.total.ndim == 0


def test_old_config_runs_with_voice_defaults_logged(tiny_model_dir, clip_data, tmp_path, capsys):
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="old", steps=2)
    proc = run_config(cfg)
    log = (proc.out.folder / "log.txt").read_text()
    assert "voice settings in force: independent_audio_timestep=True, auto_balance_audio_loss=True" in log
    console = capsys.readouterr().err
    for text in (log, console):  # the per-step line reaches both the console and log.txt
        line = next(line for line in text.splitlines() if "step 2/2 loss" in line)
        for part in ("video", "audio raw", "scaled", "mult", " audio ", "speech", "sigma v", " a ", "lr"):
            assert part in line, (part, line)


def test_manual_multiplier_ignored_with_one_warning_under_auto_balance(tiny_model_dir, clip_data, tmp_path):
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="warnmult", steps=3,
                      **{"train.audio_loss_multiplier": 3.0})
    proc = run_config(cfg)
    log = (proc.out.folder / "log.txt").read_text()
    assert log.count("audio_loss_multiplier is ignored while auto_balance_audio_loss is on") == 1
    records = (proc.out.folder / "metrics.jsonl").read_text().splitlines()
    assert all('"audio_multiplier": 3.0' not in r for r in records)

"""cache_text_embeddings / unload_text_encoder, low_vram, and settings we accept but do not act on."""

from __future__ import annotations

import pytest
import torch
from conftest import prepared, run_config, tiny_config

from toolkit.configuration.loader import validate_config_data
from toolkit.errors import RunFailed


@pytest.mark.parametrize("train_text_encoder", [False, True])
def test_unloaded_text_encoder_still_trains_and_samples(train_text_encoder, tiny_model_dir, clip_data, tmp_path):
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="unload", steps=3,
                      **{"train.unload_text_encoder": True, "train.train_text_encoder": train_text_encoder,
                         "train.disable_sampling": False, "train.skip_first_sample": True,
                         "datasets.0.caption_dropout_rate": 0.5})
    proc = run_config(cfg)
    assert proc.model.text_encoder is None
    assert sorted(p.name for p in (proc.out.folder / "samples").glob("*.mp4")) == ["000000003_00.mp4"]
    log = (proc.out.folder / "log.txt").read_text()
    assert "text encoder unloaded" in log
    with pytest.raises(RunFailed, match="was not encoded before"):
        proc.model.encode_prompts(["a prompt nobody cached"])


def test_cached_text_is_what_the_encoder_gives(tiny_model_dir, clip_data, tmp_path):
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, **{"train.cache_text_embeddings": True}))
    caption = proc.items[0].caption
    assert caption in proc.batches.prompt_cache and "" in proc.batches.prompt_cache
    fresh = proc.model.run_connectors(proc.model._run_text_encoder([caption]))
    assert torch.allclose(fresh.video, proc.batches.prompt_cache[caption].video)
    assert proc.model.text_encoder is not None


def test_low_vram_brings_components_to_the_device_only_while_they_work(tiny_model_dir, clip_data, tmp_path, monkeypatch):
    proc = prepared(tiny_config(tiny_model_dir, clip_data, tmp_path, **{"model.low_vram": True}))
    model = proc.model
    moves = []
    for name in ("vae", "audio_vae", "vocoder", "text_encoder"):
        module = getattr(model, name)
        original = module.to

        def recording(*args, _name=name, _original=original, **kwargs):
            moves.append((_name, str(args[0]) if args else str(kwargs)))
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, "to", recording)
    model.encode_video(torch.zeros(1, 3, 9, 64, 64))
    assert moves == [("vae", "cpu"), ("vae", "cpu")]  # to the compute device (cpu here), then back to rest
    moves.clear()
    model.generate("a red circle", "", 64, 64, 9, 24.0, 2, 1.0, 0)
    assert {name for name, _ in moves} == {"vae", "audio_vae", "vocoder", "text_encoder"}
    assert all(device == "cpu" for _, device in moves[-3:])


def test_accepted_settings_without_effect_are_said_once(tiny_model_dir, clip_data, tmp_path):
    cfg = tiny_config(tiny_model_dir, clip_data, tmp_path, name="noeffect", steps=2,
                      **{"network.transformer_only": False, "datasets.0.is_reg": True, "performance_log_every": 1})
    warnings = validate_config_data(cfg).warnings
    assert sum("network.transformer_only" in w and "train_text_encoder" in w for w in warnings) == 1
    assert sum("datasets[0].is_reg" in w and "loss_multiplier" in w for w in warnings) == 1
    quiet = tiny_config(tiny_model_dir, clip_data, tmp_path, **{"network.transformer_only": True,
                                                                "datasets.0.is_reg": False})
    assert validate_config_data(quiet).warnings == []
    log = (run_config(cfg).out.folder / "log.txt").read_text()
    assert "performance: " in log and "s/step over steps 2-2" in log  # performance_log_every is honoured

"""low_vram (a model loaded whole), and settings we accept but do not act on."""

from __future__ import annotations

import torch
from conftest import run_config, tiny_config

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS
from toolkit.configuration.loader import validate_config_data


def test_low_vram_brings_components_to_the_device_only_while_they_work(tiny_model_dir, monkeypatch):
    """A model loaded whole (tools, tests; a run loads it phase by phase, tests/test_phases.py)."""
    model = LTX2Model.load(str(tiny_model_dir), LTX2Settings(version=VERSIONS["ltx2"], low_vram=True,
                                                             gradient_checkpointing=False))
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

"""The tiny LTX-2 is built from the real diffusers classes and round-trips through disk."""

from __future__ import annotations

import torch

from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built


def test_build_save_load_round_trip(tmp_path):
    from diffusers import LTX2Pipeline

    out = build_tiny_ltx2(tmp_path / "m", seed=5)
    assert is_built(out)
    for sub in ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder", "tokenizer", "scheduler"):
        assert (out / sub).is_dir(), sub
    first = LTX2Pipeline.from_pretrained(str(out))
    first.save_pretrained(str(tmp_path / "again"))
    second = LTX2Pipeline.from_pretrained(str(tmp_path / "again"))
    for name in ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder"):
        a, b = getattr(first, name).state_dict(), getattr(second, name).state_dict()
        assert a.keys() == b.keys()
        for key in a:
            assert torch.allclose(a[key].float(), b[key].float(), atol=2e-6), (name, key)


def test_real_topology_and_int8_friendly_widths(tiny_model_dir):
    from diffusers import AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel

    vae = AutoencoderKLLTX2Video.from_pretrained(str(tiny_model_dir), subfolder="vae")
    assert vae.spatial_compression_ratio == 32 and vae.temporal_compression_ratio == 8
    with torch.no_grad():
        latent = vae.encode(torch.zeros(1, 3, 17, 64, 96)).latent_dist.mode()
    assert tuple(latent.shape[2:]) == (3, 2, 3)  # (17-1)/8+1 frames, 64/32, 96/32
    transformer = LTX2VideoTransformer3DModel.from_pretrained(str(tiny_model_dir), subfolder="transformer")
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and name.startswith("transformer_blocks."):
            assert module.in_features % 32 == 0 and module.out_features % 32 == 0, name


def test_scheduler_has_the_real_shift_config(tiny_model_dir):
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler.from_pretrained(str(tiny_model_dir), subfolder="scheduler")
    cfg = sched.config
    assert cfg.use_dynamic_shifting and cfg.base_shift == 0.95 and cfg.max_shift == 2.05
    assert cfg.base_image_seq_len == 1024 and cfg.max_image_seq_len == 4096 and cfg.shift_terminal == 0.1


def test_file_layouts_from_the_command_line(tmp_path, capsys):
    """--layout single/split writes the users' layouts (their contents are checked against the
    diffusers folder in test_family_file_loading.py); the split layout is LTX-2.5's only."""
    import pytest
    from safetensors import safe_open

    from extensions_built_in.diffusion_models.ltx2.tiny_model import main
    from extensions_built_in.diffusion_models.ltx2.weights.layout import SPLIT_FILES_25

    with pytest.raises(SystemExit) as refused:
        main(["--version", "2.3", "--layout", "split", str(tmp_path / "x")])
    assert refused.value.code == 2 and "split is LTX-2.5's" in capsys.readouterr().err
    assert main(["--version", "2.5", "--layout", "split", str(tmp_path / "comfy")]) == 0
    assert is_built(tmp_path / "comfy")
    for role, rel in SPLIT_FILES_25.items():
        with safe_open(str(tmp_path / "comfy" / rel), framework="pt") as f:
            assert f.metadata()["model_version"] == "2.5.0", role
            assert role != "text_encoder" or "tokenizer_json" in set(f.keys())

"""The voice and memory features on LTX-2.3 and LTX-2.5 (2.0 is covered feature by feature in
the other test files): one dense run per version trains a few steps with independent audio
timesteps, auto-balance, base preservation on a mixed clip + image dataset, strict audio mode,
connector training (2.3+ per-modality projections) and, per version, a different adapter and
memory set; it saves, resumes, and the saved file reloads into a fresh network exactly."""

from __future__ import annotations

import pytest
import torch
from conftest import ARCH_OF_VERSION, prepared, run_config, tiny_config

from toolkit.errors import UserInputError
from toolkit.lora.network import Network

COMMON = {
    "train.train_text_encoder": True,
    "train.audio_preservation": "base",
    "train.strict_audio_mode": True,
    # the clip speaks one word: only some of its 9-frame windows have speech, which strict mode counts
    "train.strict_audio_min_supervised_ratio": 0.2,
    "datasets.0.window_variants": 1,
    "save.save_every": 2,
    "datasets.0.cache_latents_to_disk": True,  # the resumed run reads the first run's latents
}
PER_VERSION = {
    # DoRA on a bf16 transformer quantized to int8, Gemma quantized too, half the blocks offloaded
    "2.3": {"network.type": "dora", "train.dtype": "bf16", "model.quantize": True, "model.qtype": "qint8",
            "model.quantize_te": True, "model.qtype_te": "qfloat8", "model.layer_offloading": True,
            "model.layer_offloading_transformer_percent": 0.5},
    # LoKr with gradient checkpointing
    "2.5": {"network.type": "lokr", "train.gradient_checkpointing": True},
}


@pytest.mark.parametrize("version", ["2.3", "2.5"])
def test_features_train_save_resume_and_reload(version, tiny_version_dir, mixed_data, tmp_path):
    model_dir = tiny_version_dir(version)
    overrides = {**COMMON, **PER_VERSION[version], "model.arch": ARCH_OF_VERSION[version]}
    cfg = tiny_config(model_dir, mixed_data, tmp_path, name="fam", steps=2, **overrides)
    first = run_config(cfg)
    folder = first.out.folder
    log = (folder / "log.txt").read_text()
    assert f"version {version}, a/v cross-attention timesteps: reference" in log

    cfg["config"]["process"][0]["train"]["steps"] = 3
    resumed = run_config(cfg)
    assert "resuming from step 2" in (folder / "log.txt").read_text()
    assert resumed.step == 3

    # The final file reloads exactly into a fresh network of the same version.
    from diffusers import LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    transformer = LTX2VideoTransformer3DModel.from_pretrained(str(model_dir), subfolder="transformer")
    connectors = LTX2TextConnectors.from_pretrained(str(model_dir), subfolder="connectors")
    fresh = Network(transformer.requires_grad_(False), resumed.network.settings, connectors=connectors.requires_grad_(False))
    fresh.load_file(folder / "fam.safetensors")
    mine, theirs = resumed.network.peft_state_dict(), fresh.peft_state_dict()
    assert set(mine) == set(theirs) and any(k.startswith("connectors.video_text_proj_in") for k in mine)
    for key in mine:
        assert torch.allclose(mine[key].float(), theirs[key].float(), atol=1e-6, rtol=1e-5), key
    moved = [v for k, v in mine.items() if "lora_B" in k or "lokr_w1" in k]
    assert moved and any(v.abs().max() > 0 for v in moved), "training moved the adapters"

    if version == "2.3":  # the same run resumed as another version is refused, not half-loaded
        other = tiny_config(tiny_version_dir("2.5"), mixed_data, tmp_path, name="fam", steps=4,
                            **{**COMMON, "model.arch": "ltx2.5"})
        with pytest.raises(UserInputError, match=r"model\.arch = 'ltx2\.3'; the config now says 'ltx2\.5'"):
            prepared(other)

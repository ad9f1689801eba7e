"""Settings dataclasses are derived from the config schema by field name, not copied by hand."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Settings
from extensions_built_in.sd_trainer.SDTrainer import LossSettings
from jobs.process import settings_build as build
from toolkit.config_modules import (
    DatasetConfig,
    ModelConfig,
    ModelKwargs,
    NetworkConfig,
    NetworkKwargs,
    ProcessConfig,
    TrainConfig,
)
from toolkit.configuration.loader import validate_config_data
from toolkit.configuration.settings_from import settings_from, unmatched_fields
from toolkit.dataloader_mixins import DatasetSpec
from toolkit.lora.network import NetworkSettings
from toolkit.memory.levers import resolve_levers
from toolkit.train.batch_builder import BatchSettings
from toolkit.train.strict_audio import StrictAudioSettings

CASES = [
    (LTX2Settings, (ModelConfig, ModelKwargs, TrainConfig), build.LTX2_GIVEN, build.LTX2_KEEP_DEFAULT),
    (LossSettings, (TrainConfig,), build.LOSS_GIVEN, ()),
    (StrictAudioSettings, (TrainConfig,), (), ()),
    (BatchSettings, (TrainConfig, ProcessConfig), build.BATCH_GIVEN, ()),
    (NetworkSettings, (NetworkConfig, NetworkKwargs), build.NETWORK_GIVEN, ()),
    (DatasetSpec, (DatasetConfig,), build.DATASET_GIVEN, build.DATASET_KEEP_DEFAULT),
]


@pytest.mark.parametrize("cls, sections, given, keep", CASES, ids=lambda c: getattr(c, "__name__", None))
def test_every_settings_field_is_a_schema_key_or_given(cls, sections, given, keep):
    assert unmatched_fields(cls, sections, given, keep) == []
    # and what is given by hand is a real field (a renamed one would slip through otherwise)
    assert set(given) | set(keep) <= {f.name for f in fields(cls)}


def _process(tmp_path: Path, **overrides):
    data = tiny_config(tmp_path / "model", tmp_path / "data", tmp_path / "out", **overrides)
    return validate_config_data(data).job.config.process[0]


def test_builders_take_each_value_from_the_config_key_of_its_name(tmp_path):
    cfg = _process(tmp_path, **{
        "train.loss_type": "pseudo_huber", "train.audio_preservation": "silence",
        "train.auto_balance_target_ratio": 0.5, "train.noise_offset": 0.07,
        "network.type": "lokr", "network.lokr_factor": 4, "network.linear": 12, "network.linear_alpha": 6,
        "network.network_kwargs": {"ignore_if_contains": ["ff"]},
        "model.low_vram": True, "model.model_kwargs": {"compile_mode": "max-autotune"},
        "train.gradient_checkpointing": True, "train.ff_chunk_tokens": 64, "train.offload_checkpoints": True,
        "datasets.0.caption_dropout_rate": 0.25, "datasets.0.window_variants": 3,
        "datasets.0.cache_latents_to_disk": True,
    })
    loss = build.loss_settings(cfg.train)
    assert (loss.loss_type, loss.audio_preservation, loss.auto_balance_target_ratio, loss.noise_offset) == \
        ("pseudo_huber", "silence", 0.5, 0.07)
    levers = resolve_levers(cfg, "cpu")  # the memory levers reach the settings resolved
    net = build.network_settings(cfg.network, "2.0", levers)
    assert (net.type, net.lokr_factor, net.rank, net.alpha, net.ignore_if_contains, net.model_version,
            net.lora_precision) == ("lokr", 4, 12, 6, ["ff"], "2.0", "float32")
    model = build.ltx2_settings(cfg, torch.float32, torch.device("cpu"), levers)
    assert model.low_vram and model.compile_mode == "max-autotune" and model.gradient_checkpointing
    assert (model.ff_chunk_tokens, model.offload_checkpoints, model.layer_offloading) == (64, True, False)
    spec = build.dataset_spec(cfg.datasets[0], 64, "sks")
    assert (spec.resolution, spec.caption_dropout_rate, spec.window_variants, spec.cache_to_disk,
            spec.trigger_word) == (64, 0.25, 3, True, "sks")


def test_a_field_found_nowhere_is_an_error_not_a_silent_default(tmp_path):
    @dataclass
    class WithNewOption:
        lr: float = 1.0
        brand_new_option: int = 7

    train = _process(tmp_path).train
    with pytest.raises(TypeError, match="brand_new_option"):
        settings_from(WithNewOption, train)
    assert settings_from(WithNewOption, train, keep_default=("brand_new_option",)).lr == train.lr
    with pytest.raises(TypeError, match="no field"):
        settings_from(WithNewOption, train, typo=1)

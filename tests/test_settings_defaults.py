"""A settings object built without a config trains with what a user who leaves the keys out
gets: every settings dataclass field with a default is held to the value the run builds from
a config that does not write it (toolkit/configuration/defaults.py)."""

from __future__ import annotations

from dataclasses import MISSING, fields

import pytest
import torch

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Settings
from extensions_built_in.sd_trainer.SDTrainer import LossSettings
from jobs.process import settings_build as build
from toolkit.config_modules import TrainConfig
from toolkit.configuration.defaults import config_default
from toolkit.configuration.loader import validate_config_data
from toolkit.configuration.ui_export import ui_schema
from toolkit.dataloader_mixins import DatasetSpec
from toolkit.lora.network import NetworkSettings
from toolkit.memory.levers import resolve_levers
from toolkit.train.batch_builder import BatchSettings
from toolkit.train.strict_audio import StrictAudioSettings

FOLDER = "/data/clips"
# Given by the run from the machine or the loaded model, not from a config key.
RUN_CONTEXT = {(LTX2Settings, "dtype"), (LTX2Settings, "device"), (NetworkSettings, "model_version"),
               # whether the run samples: from train.disable_sampling and the sample section together
               (LTX2Settings, "sampling"),
               # memory levers (a) and (f): resolved at start-up from train.dtype, the card and the RAM
               # (toolkit/memory/levers.py); a settings object without a run computes in float32
               (NetworkSettings, "lora_precision"), (NetworkSettings, "lora_cast_before_add")}

# A config that writes nothing but the model and one dataset folder, for still images and for
# clips with sound (the automatic values differ), and what the direct builder is told of it:
# the dataset's frame count, and for the network whether any dataset has audio.
SCENARIOS = {
    "still images": ({}, {DatasetSpec: {"num_frames": 1}, NetworkSettings: {"include_audio": False}}),
    "clips with sound": ({"num_frames": 9}, {DatasetSpec: {"num_frames": 9}}),
}


def _user_settings(dataset: dict) -> dict:
    data = {"job": "extension", "config": {"name": "run1", "process": [
        {"model": {"name_or_path": "Lightricks/LTX-2"}, "datasets": [{"folder_path": FOLDER, **dataset}]}]}}
    cfg = validate_config_data(data).job.config.process[0]
    ds = cfg.datasets[0]
    levers = resolve_levers(cfg, "cpu")
    return {
        LTX2Settings: build.ltx2_settings(cfg, torch.float32, torch.device("cpu"), levers),
        LossSettings: build.loss_settings(cfg.train),
        StrictAudioSettings: build.strict_audio_settings(cfg.train),
        BatchSettings: build.batch_settings(cfg),
        NetworkSettings: build.network_settings(cfg.network, "2.0", levers),
        DatasetSpec: build.dataset_spec(ds, ds.resolution[0], cfg.trigger_word),
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_settings_default_is_what_a_config_that_leaves_the_key_out_gets(scenario):
    dataset, told = SCENARIOS[scenario]
    wrong = []
    for cls, user in _user_settings(dataset).items():
        direct = cls(**({"folder": FOLDER} if cls is DatasetSpec else {}), **told.get(cls, {}))
        for f in fields(cls):
            has_default = f.default is not MISSING or f.default_factory is not MISSING
            if has_default and (cls, f.name) not in RUN_CONTEXT and getattr(direct, f.name) != getattr(user, f.name):
                wrong.append(f"{cls.__name__}.{f.name}: {getattr(direct, f.name)!r}, "
                             f"a config gets {getattr(user, f.name)!r}")
    assert wrong == []


def test_a_dotted_key_the_schema_lacks_is_an_error_not_a_default():
    assert config_default("network.network_kwargs.ignore_if_contains") == []
    for key in ("train.no_such_key", "train.lr.value", "nowhere.lr"):
        with pytest.raises(KeyError):
            config_default(key)


@pytest.mark.parametrize("written", [{}, {"seed": None}])
def test_a_seed_left_out_or_null_is_the_documented_fixed_seed(written):
    """Runs repeat: no seed means the default seed (42), which the schema, docs/config.md and
    the UI show, and which the run and --check both read from train.seed."""
    assert TrainConfig(**written).seed == 42
    ui_field = next(f for f in ui_schema()["sections"]["config.process[].train"]["fields"] if f["key"] == "seed")
    assert (ui_field["default"], ui_field.get("nullable", False)) == (42, False)
    assert "random" not in ui_field["description"]

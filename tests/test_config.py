"""Config schema and loader: validation messages, aliases, substitution, file formats, docs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from toolkit.config_modules import JobConfig, NetworkConfig, Section, TrainConfig
from toolkit.configuration.docs import render_config_docs
from toolkit.configuration.loader import (
    ConfigValidationError,
    config_issues,
    config_json_schema,
    load_config,
    validate_config_data,
)
from toolkit.configuration.model_defaults import MODEL_DEFAULTS
from toolkit.errors import ConfigError, UserInputError

ROOT = Path(__file__).resolve().parents[1]

# The SOP's quick-start preset, wrapped in the ai-toolkit file shape the UI writes.
SOP_CONFIG = """
job: extension
config:
  name: sop_character
  process:
    - type: diffusion_trainer
      training_folder: output
      device: cuda:0
      trigger_word: ohwx
      network:
        type: lora
        linear: 32
        linear_alpha: 32
        rank_dropout: 0.1
      train:
        optimizer: adamw
        lr: 7.5e-5
        auto_balance_audio_loss: true
        independent_audio_timestep: true
        strict_audio_mode: true
        noise_offset: 0.05
        min_snr_gamma: 0
      model:
        name_or_path: Lightricks/LTX-2
        arch: ltx2
        quantize: true
        qtype: qfloat8
      datasets:
        - folder_path: /path/to/your/clips
          num_frames: 81
          do_audio: true
          flip_x: true
      sample:
        sample_every: 250
        samples:
          - prompt: ohwx says hello
meta:
  name: "[name]"
  version: "1.0"
"""


def minimal(**process) -> dict:
    """The smallest valid config, with ``process`` keys merged into process[0]."""
    proc = {"model": {"name_or_path": "Lightricks/LTX-2"},
            "datasets": [{"folder_path": "/data/clips"}]}
    proc.update(process)
    return {"job": "extension", "config": {"name": "run1", "process": [proc]}}


def issues_of(data: dict) -> list[dict]:
    return config_issues(data)


def one_issue(data: dict) -> dict:
    found = issues_of(data)
    assert len(found) == 1, found
    return found[0]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ whole configs

def test_sop_style_config_validates(tmp_path):
    loaded = load_config(write(tmp_path, "sop.yaml", SOP_CONFIG))
    proc = loaded.job.config.process[0]
    assert loaded.name == "sop_character"
    assert proc.type == "diffusion_trainer"
    assert proc.network.linear == 32 and proc.network.linear_alpha == 32
    assert proc.train.strict_audio_mode and proc.train.independent_audio_timestep
    assert proc.datasets[0].num_frames == 81 and proc.datasets[0].do_audio is True
    assert loaded.raw["meta"]["name"] == "sop_character"  # [name] substituted
    assert loaded.warnings == []


def test_example_config_validates_and_is_the_quality_preset():
    loaded = load_config(ROOT / "config/examples/ltx2_character_lora.yaml")
    proc = loaded.job.config.process[0]
    assert proc.model.name_or_path == "Lightricks/LTX-2" and proc.model.quantize
    assert (proc.network.linear, proc.network.linear_alpha, proc.network.rank_dropout) == (32, 32, 0.1)
    assert proc.train.optimizer == "adamw" and proc.train.lr == 7.5e-5
    assert proc.train.auto_balance_audio_loss and proc.train.strict_audio_mode
    assert proc.datasets[0].num_frames == 81 and proc.datasets[0].do_audio and proc.datasets[0].flip_x
    assert len(proc.sample.samples) >= 2
    assert loaded.warnings == []


def test_defaults_come_from_the_model_table():
    table = MODEL_DEFAULTS["ltx2"]
    job = validate_config_data(minimal()).job
    proc = job.config.process[0]
    for key, value in table.items():
        section, name = key.split(".")
        assert getattr(getattr(proc, section), name) == value, key
    schema = config_json_schema()
    marked = {f"{sec}.{name}" for sec, cls in (("network", "NetworkConfig"), ("train", "TrainConfig"),
                                                    ("sample", "SampleConfig"))
              for name, prop in schema["$defs"][cls]["properties"].items() if prop.get("x-ltx2-default")}
    assert marked == set(table)
    assert schema["x-model-defaults"]["ltx2"] == table


def test_every_field_has_description_and_default_unless_required():
    seen = set()

    def walk(model):
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
            for sub in Section.__subclasses__():
                if sub.__name__ in repr(info.annotation):
                    walk(sub)
    walk(JobConfig)
    assert len(seen) >= 10
    required = {(m.__name__, n) for m in seen for n, i in m.model_fields.items() if i.is_required()}
    assert required == {("JobConfig", "config"), ("ConfigSection", "name"), ("ConfigSection", "process"),
                        ("ProcessConfig", "model"), ("ProcessConfig", "datasets"),
                        ("ModelConfig", "name_or_path"), ("DatasetConfig", "folder_path"),
                        ("SampleItem", "prompt")}


# ------------------------------------------------------------------ messages

def test_unknown_key_names_the_nearest_known_key():
    issue = one_issue(minimal(network={"linaer": 16}))
    assert issue["path"] == "config.process[0].network.linaer"
    assert issue["message"] == "unknown key 'linaer' — did you mean 'linear'?"


def test_unknown_key_without_close_match_says_where():
    issue = one_issue(minimal(train={"zzzzzz": 1}))
    assert "unknown key 'zzzzzz'" in issue["message"] and "config.process[0].train" in issue["message"]


def test_wrong_type_names_value_and_rule():
    issue = one_issue(minimal(network={"linear": "many"}))
    assert issue == {"path": "config.process[0].network.linear",
                     "message": "linear ('many') must be a whole number"}
    issue = one_issue(minimal(train={"gradient_checkpointing": "sometimes"}))
    assert "must be true or false" in issue["message"]


def test_num_frames_must_be_8k_plus_1():
    issue = one_issue(minimal(datasets=[{"folder_path": "d", "num_frames": 10}]))
    assert issue["path"] == "config.process[0].datasets[0].num_frames"
    assert issue["message"].startswith("num_frames (10) must be 8k+1 (1, 9, 17, 25, …)")
    assert "9 or 17" in issue["message"]
    assert issues_of(minimal(datasets=[{"folder_path": "d", "num_frames": 81}])) == []


def test_resolution_must_be_multiple_of_32_and_is_normalised_to_a_list():
    issue = one_issue(minimal(datasets=[{"folder_path": "d", "resolution": 500}]))
    assert issue["path"] == "config.process[0].datasets[0].resolution"
    assert issue["message"].startswith("resolution (500) must be a multiple of 32")
    issue = one_issue(minimal(datasets=[{"folder_path": "d", "resolution": [512, 500]}]))
    assert issue["path"] == "config.process[0].datasets[0].resolution[1]"
    job = validate_config_data(minimal(datasets=[{"folder_path": "d", "resolution": 768}])).job
    assert job.config.process[0].datasets[0].resolution == [768]


def test_lr_must_be_positive():
    issue = one_issue(minimal(train={"lr": 0}))
    assert issue == {"path": "config.process[0].train.lr", "message": "lr (0) must be > 0"}


def test_missing_or_empty_name_or_path():
    expected = ("name_or_path is required: a diffusers-format folder or hub id (Lightricks/LTX-2), an original "
                ".safetensors file (local, or org/repo/file.safetensors from the Hugging Face cache), or for LTX-2.5 "
                "a ComfyUI models folder with the split files (or Lightricks/LTX-2.5)")
    for model in ({}, {"name_or_path": "  "}):
        issue = one_issue(minimal(model=model))
        assert issue == {"path": "config.process[0].model.name_or_path", "message": expected}
    with pytest.raises(ConfigValidationError) as err:
        validate_config_data(minimal(model={}), "my.yaml")
    assert str(err.value) == f"my.yaml: config.process[0].model.{expected}"
    assert isinstance(err.value, UserInputError) and err.value.exit_code == 2


def test_several_problems_make_one_message_with_every_path():
    data = minimal(train={"lr": 0}, network={"linaer": 1},
                   datasets=[{"folder_path": "d", "num_frames": 10}])
    with pytest.raises(ConfigValidationError) as err:
        validate_config_data(data, "many.yaml")
    text = str(err.value)
    assert text.startswith("many.yaml: 3 problems:")
    for path in ("train.lr (0)", "network.linaer: unknown key", "datasets[0].num_frames (10)"):
        assert path in text
    assert "pydantic" not in text and "validation error" not in text.lower()


def test_choices_are_case_insensitive_and_dtype_aliases_normalise():
    job = validate_config_data(minimal(
        train={"optimizer": "AdamW8bit", "dtype": "bfloat16"}, save={"dtype": "Float16"},
        model={"name_or_path": "x", "arch": "LTX-2"}, network={"type": "DoRA"})).job
    proc = job.config.process[0]
    assert (proc.train.optimizer, proc.train.dtype, proc.save.dtype) == ("adamw8bit", "bf16", "fp16")
    assert proc.model.arch == "ltx2" and proc.network.type == "dora"
    issue = one_issue(minimal(train={"optimizer": "sgd"}))
    assert issue["message"].startswith("optimizer ('sgd') must be one of 'adamw'")


def test_cross_field_rules():
    msg = one_issue(minimal(train={"strict_audio_mode": True}))["message"]
    assert "strict_audio_mode needs audio" in msg  # image dataset (num_frames 1) has no audio
    msg = one_issue(minimal(train={"diff_output_preservation": True}))["message"]
    assert "needs trigger_word" in msg


# ------------------------------------------------------------------ aliases and legacy keys

def test_rank_and_alpha_aliases():
    proc = validate_config_data(minimal(network={"rank": 16, "alpha": 8})).job.config.process[0]
    assert (proc.network.linear, proc.network.linear_alpha) == (16, 8.0)
    proc = validate_config_data(minimal(train={"gradient_accumulation_steps": 4})).job.config.process[0]
    assert proc.train.gradient_accumulation == 4
    msg = one_issue(minimal(network={"rank": 16, "linear": 32}))["message"]
    assert "disagree" in msg and "rank" in msg


def test_legacy_prompts_become_samples():
    proc = validate_config_data(minimal(sample={"prompts": ["a cat", "a dog"], "seed": 7})
                                ).job.config.process[0]
    assert [s.prompt for s in proc.sample.samples] == ["a cat", "a dog"]
    resolved = proc.sample.resolved()
    assert [s.seed for s in resolved] == [7, 8] and resolved[0].num_frames == 121
    msg = one_issue(minimal(sample={"prompts": ["a"], "samples": [{"prompt": "b"}]}))["message"]
    assert "not both" in msg


def test_per_sample_overrides():
    proc = validate_config_data(minimal(sample={"walk_seed": False, "samples": [
        {"prompt": "a", "num_frames": 25, "seed": 3}, {"prompt": "b"}]})).job.config.process[0]
    a, b = proc.sample.resolved()
    assert (a.num_frames, a.seed, b.num_frames, b.seed) == (25, 3, 121, 42)
    assert one_issue(minimal(sample={"samples": [{"prompt": "a", "num_frames": 24}]}))["path"] == \
        "config.process[0].sample.samples[0].num_frames"


def test_do_audio_defaults_from_num_frames():
    proc = validate_config_data(minimal(datasets=[
        {"folder_path": "imgs"}, {"folder_path": "clips", "num_frames": 81},
        {"folder_path": "silent", "num_frames": 81, "do_audio": False}])).job.config.process[0]
    assert [d.do_audio for d in proc.datasets] == [False, True, False]
    assert [d.shrink_video_to_frames for d in proc.datasets] == [True, False, True]
    assert proc.network.train_audio_modules is True
    proc = validate_config_data(minimal()).job.config.process[0]
    assert proc.datasets[0].do_audio is False and proc.network.train_audio_modules is False


# ------------------------------------------------------------------ substitution

def test_env_substitution(monkeypatch):
    monkeypatch.setenv("LTX_CLIPS", "/data/voice")
    data = minimal(datasets=[{"folder_path": "${LTX_CLIPS}/set1"}])
    loaded = validate_config_data(data)
    assert loaded.job.config.process[0].datasets[0].folder_path == "/data/voice/set1"
    assert loaded.raw["config"]["process"][0]["datasets"][0]["folder_path"] == "/data/voice/set1"


def test_missing_env_names_variable_and_key(monkeypatch):
    monkeypatch.delenv("LTX_NOT_SET", raising=False)
    issue = one_issue(minimal(model={"name_or_path": "${LTX_NOT_SET}"}))
    assert issue["path"] == "config.process[0].model.name_or_path"
    assert "LTX_NOT_SET" in issue["message"] and "not set" in issue["message"]


def test_name_tag_and_name_override(tmp_path):
    data = minimal(training_folder="runs/[name]")
    data["meta"] = {"title": "[name] v1"}
    loaded = validate_config_data(copy.deepcopy(data))
    assert loaded.job.config.process[0].training_folder == "runs/run1"
    loaded = validate_config_data(copy.deepcopy(data), name_override="other")
    assert loaded.name == "other" and loaded.job.config.process[0].training_folder == "runs/other"
    assert loaded.raw["meta"]["title"] == "other v1"
    placeholder = copy.deepcopy(data)
    placeholder["config"]["name"] = "[name]"
    assert "-n/--name" in one_issue(placeholder)["message"]
    assert validate_config_data(placeholder, name_override="cli").name == "cli"


def test_name_is_sanitised_with_a_warning():
    data = minimal()
    data["config"]["name"] = "my character/v1"
    loaded = validate_config_data(data)
    assert loaded.name == "my_character_v1"
    assert any("my_character_v1" in w for w in loaded.warnings)
    data["config"]["name"] = "..."
    assert one_issue(data)["path"] == "config.name"


# ------------------------------------------------------------------ file formats

def test_json_file(tmp_path):
    loaded = load_config(write(tmp_path, "c.json", json.dumps(minimal())))
    assert loaded.name == "run1" and loaded.path == tmp_path / "c.json"


def test_jsonc_file_comments_and_trailing_commas(tmp_path):
    text = """{
      // line comment
      "job": "extension", /* block
      comment */
      "config": {"name": "jc", "process": [{
        "model": {"name_or_path": "http://host/a//b /* not a comment */"},
        "datasets": [{"folder_path": "d",},],
      }]}
    }"""
    loaded = load_config(write(tmp_path, "c.jsonc", text))
    assert loaded.job.config.process[0].model.name_or_path == "http://host/a//b /* not a comment */"


def test_parse_errors_name_file_and_line(tmp_path):
    with pytest.raises(ConfigError, match=r"bad\.yaml:3:1: invalid YAML"):
        load_config(write(tmp_path, "bad.yaml", "job: extension\nconfig:\n\tname: x\n"))
    with pytest.raises(ConfigError, match=r"bad\.json:2:\d+: invalid JSON"):
        load_config(write(tmp_path, "bad.json", '{"job": "extension",\n }}'))
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        load_config(write(tmp_path, "dup.yaml", "config:\n  name: a\n  name: b\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="unsupported config file type"):
        load_config(write(tmp_path, "c.toml", "x = 1"))
    with pytest.raises(ConfigValidationError, match="empty"):
        load_config(write(tmp_path, "empty.yaml", ""))


def test_yaml_quirks_are_accepted(tmp_path):
    # PyYAML reads 1e-4 as a string and `network:` with nothing under it as null.
    text = yaml.safe_dump(minimal(train={"lr": "1e-4"})) + ""
    data = yaml.safe_load(text)
    data["config"]["process"][0]["network"] = None
    loaded = validate_config_data(data)
    assert loaded.job.config.process[0].train.lr == 1e-4
    network = loaded.job.config.process[0].network
    assert network.model_dump(exclude={"train_audio_modules"}) == \
        NetworkConfig().model_dump(exclude={"train_audio_modules"})


# ------------------------------------------------------------------ schema and docs

def test_json_schema_shows_fields_aliases_and_defaults():
    schema = config_json_schema()
    json.dumps(schema)  # serialisable
    train = schema["$defs"]["TrainConfig"]["properties"]
    assert train["independent_audio_timestep"]["default"] is True
    assert train["lr"]["exclusiveMinimum"] == 0
    assert schema["$defs"]["NetworkConfig"]["properties"]["linear"]["aliases"] == ["rank"]
    assert "conv" in schema["x-ignored-upstream-keys"]["network"]
    assert set(TrainConfig.model_fields) == set(train)


def test_committed_docs_match_the_schema():
    committed = (ROOT / "docs/config.md").read_text(encoding="utf-8")
    assert committed == render_config_docs(), "regenerate: python -m toolkit.configuration.docs > docs/config.md"
    assert "`independent_audio_timestep`" in committed and "**LTX-2**" in committed

"""Loading each version: a hub id read from the Hugging Face cache, te_name_or_path and
extras_name_or_path as ai-toolkit reads them, and one clear error naming the component and
where it was looked for when a file is missing or belongs to another version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import fake_hub_cache
from numerics import assert_outputs_match

from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS
from toolkit.errors import UserInputError


def _settings(arch, **kw):
    return LTX2Settings(version=VERSIONS[arch], gradient_checkpointing=False, **kw)


def _link(src: Path, dst: Path, names) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        os.symlink(src / name, dst / name)
    return dst


def test_hub_id_is_read_from_the_hugging_face_cache(tiny_version_dir, tmp_path, monkeypatch):
    snapshot = fake_hub_cache(tmp_path / "hub", VERSIONS["ltx2.3"].hub_id, tiny_version_dir("2.3"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    model = LTX2Model.load("diffusers/LTX-2.3-Diffusers", _settings("ltx2.3"))
    assert Path(model.source) == snapshot
    assert model.transformer.config.cross_attn_mod and model.vocoder_sample_rate == 48000
    with pytest.raises(UserInputError, match=r"'Lightricks/LTX-2\.5-Diffusers'.*not in the local Hugging Face cache"):
        LTX2Model.load("Lightricks/LTX-2.5-Diffusers", _settings("ltx2.5"))


def test_a_relative_folder_missing_from_the_current_directory_is_named_as_a_folder(tmp_path, monkeypatch):
    """'models/tiny-ltx2' run from outside the repo reads like a hub id; the error must name the
    folder it looked for, not only tell the user to download 'models/tiny-ltx2'."""
    from extensions_built_in.diffusion_models.ltx2.loading import resolve_folder

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError) as err:
        resolve_folder("models/tiny-ltx2", "name_or_path")
    assert f"there is no folder {tmp_path / 'models' / 'tiny-ltx2'}" in str(err.value)
    assert "current directory" in str(err.value) and "not in the local Hugging Face cache" in str(err.value)


@pytest.mark.numerics
def test_te_and_extras_paths_supply_the_missing_components(tiny_version_dir, tmp_path):
    full = tiny_version_dir("2.5")
    only_transformer = _link(full, tmp_path / "dit", ["transformer"])
    extras = _link(full, tmp_path / "extras", ["vae", "audio_vae", "vocoder", "connectors", "scheduler"])
    gemma = tmp_path / "gemma"  # a Gemma folder itself: weights and tokenizer at its root
    _link(full / "text_encoder", gemma, sorted(p.name for p in (full / "text_encoder").iterdir()))
    for item in (full / "tokenizer").iterdir():
        os.symlink(item, gemma / item.name)

    with pytest.raises(UserInputError) as missing:
        LTX2Model.load(str(only_transformer), _settings("ltx2.5"))
    message = str(missing.value)
    assert "the connectors was not found" in message and str(only_transformer / "connectors") in message
    with pytest.raises(UserInputError, match=r"the text_encoder was not found.*" + str(extras / "text_encoder")):
        LTX2Model.load(str(only_transformer), _settings("ltx2.5", extras_name_or_path=str(extras)))

    model = LTX2Model.load(str(only_transformer), _settings("ltx2.5", extras_name_or_path=str(extras),
                                                            te_name_or_path=str(gemma)))
    reference = LTX2Model.load(str(full), _settings("ltx2.5"))
    # the language model alone is read from the multimodal folder (the trainer needs its hidden states only)
    assert type(model.text_encoder).__name__ == "Gemma4UnifiedTextModel"
    a, b = model.encode_prompts(["a red circle"]), reference.encode_prompts(["a red circle"])
    # two loads, two places in memory: equal up to the kernels' summation order (tests/numerics.py)
    assert_outputs_match(a.video, b.video, "video prompt embeddings")
    assert_outputs_match(a.audio, b.audio, "audio prompt embeddings")


@pytest.mark.parametrize("arch,files,component", [("ltx2.5", "2.3", "text_encoder"), ("ltx2", "2.3", "vocoder"),
                                                  ("ltx2.3", "2.0", "vocoder")])
def test_files_of_another_version_are_one_clear_error(arch, files, component, tiny_version_dir):
    with pytest.raises(UserInputError) as wrong:
        LTX2Model.load(str(tiny_version_dir(files)), _settings(arch))
    message = str(wrong.value)
    assert f"the {component} in {tiny_version_dir(files) / component}" in message
    assert f"LTX-{VERSIONS[arch].number} (model.arch {arch})" in message


def test_transformer_of_another_version_is_refused(tiny_version_dir, tmp_path):
    """2.3 and 2.5 share every component class: the transformer's own config tells them apart."""
    mixed = _link(tiny_version_dir("2.5"), tmp_path / "mixed",
                  [p.name for p in tiny_version_dir("2.5").iterdir() if p.name != "transformer"])
    os.symlink(tiny_version_dir("2.3") / "transformer", mixed / "transformer")
    with pytest.raises(UserInputError, match=r"model.arch is ltx2.5 \(LTX-2.5\) but the transformer in .* is LTX-2.3"):
        LTX2Model.load(str(mixed), _settings("ltx2.5"))

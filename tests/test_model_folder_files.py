"""A model folder whose component folders are there without their files (an interrupted or
filtered download, a copy cut short) is refused by --validate and the start-up checks, naming
the folder and what it lacks, before any model component loads; a hub snapshot missing files
is named with the command that finishes the download."""

from __future__ import annotations

import json
import shutil

from conftest import fake_hub_cache, tiny_config, validate_issues

from extensions_built_in.diffusion_models.ltx2.weights.source_checks import describe_model_source, hub_download_notes
from toolkit.configuration.loader import validate_config_data

KEY = "config.process[0].model.name_or_path"


def test_a_folder_without_weights_or_shards_is_refused_naming_what_it_lacks(tiny_model_dir, clip_data, tmp_path,
                                                                            capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    data = tiny_config(model, clip_data, tmp_path / "out")
    assert validate_issues(tmp_path, data, capsys) == (0, {})

    weights = model / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.rename(model / "transformer" / "diffusion_pytorch_model-00001-of-00002.safetensors")
    index = {"metadata": {}, "weight_map": {"a.weight": "diffusion_pytorch_model-00001-of-00002.safetensors",
                                            "b.weight": "diffusion_pytorch_model-00002-of-00002.safetensors"}}
    (model / "transformer" / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    (model / "vocoder" / "diffusion_pytorch_model.safetensors").unlink()
    (model / "scheduler" / "scheduler_config.json").unlink()
    code, issues = validate_issues(tmp_path, data, capsys)
    assert code == 2 and set(issues) == {KEY}
    message = issues[KEY]
    assert ("transformer/ lacks 1 of the 2 weight files its diffusion_pytorch_model.safetensors.index.json names "
            "(e.g. diffusion_pytorch_model-00002-of-00002.safetensors)") in message
    assert "vocoder/ has no weight file (*.safetensors)" in message
    assert "scheduler/ has no scheduler_config.json" in message
    assert str(model) in message and "vae/" not in message.replace("audio_vae/", "")  # complete ones unnamed
    # --check goes on with the data (a copy or download may still be running) and warns with the same text
    section = validate_config_data(data).job.config.process[0].model
    assert describe_model_source(section) == f"{model} (local folder)"
    assert hub_download_notes(section) == [message]


def test_a_partly_downloaded_hub_snapshot_is_named_with_the_command_that_finishes_it(
        tiny_model_dir, clip_data, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "hub"
    snapshot = fake_hub_cache(cache, "Lightricks/LTX-2", tiny_model_dir)
    # huggingface_hub links each finished file to its blob; an interrupted download leaves a
    # component folder with its config linked and its weights not (or a link to a removed blob)
    (snapshot / "text_encoder").unlink()
    (snapshot / "text_encoder").mkdir()
    (snapshot / "text_encoder" / "config.json").symlink_to(tiny_model_dir / "text_encoder" / "config.json")
    (snapshot / "text_encoder" / "model.safetensors").symlink_to(tmp_path / "blobs" / "gone")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    code, issues = validate_issues(tmp_path, tiny_config("Lightricks/LTX-2", clip_data, tmp_path / "out"), capsys)
    assert code == 2 and set(issues) == {KEY}
    assert "only partly downloaded" in issues[KEY] and str(snapshot) in issues[KEY]
    assert "text_encoder/ has no weight file" in issues[KEY] and "`hf download Lightricks/LTX-2`" in issues[KEY]
    # a text encoder taken from te_name_or_path is not looked for in the snapshot
    data = tiny_config("Lightricks/LTX-2", clip_data, tmp_path / "out", **{"model.te_name_or_path": str(tiny_model_dir)})
    assert validate_issues(tmp_path, data, capsys) == (0, {})


def test_missing_folders_and_incomplete_ones_are_one_problem(tiny_model_dir, clip_data, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    shutil.rmtree(model / "vae")
    (model / "connectors" / "diffusion_pytorch_model.safetensors").unlink()
    code, issues = validate_issues(tmp_path, tiny_config(model, clip_data, tmp_path / "out"), capsys)
    assert code == 2 and set(issues) == {KEY}
    assert "lacks vae/" in issues[KEY] and "besides, connectors/ has no weight file" in issues[KEY]

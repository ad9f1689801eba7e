"""A hub id in model.name_or_path (or te/extras_name_or_path) is read from the local Hugging Face
cache, never downloaded: --validate and the start-up checks refuse one the cache does not hold
(naming the key, the id, the cache folder and the download command) and accept one it holds with
the component folders the run needs. No network is touched."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import yaml
from conftest import fake_hub_cache, tiny_config, validate_issues

import run
from extensions_built_in.diffusion_models.ltx2.weights.layout import SINGLE_FILE

KEY = "config.process[0].model.name_or_path"


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a connection is recorded (and refused)."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_validate_refuses_a_hub_id_missing_from_the_cache(tiny_model_dir, clip_data, tmp_path, monkeypatch,
                                                         capsys, no_network):
    empty = tmp_path / "empty-hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(empty))
    data = tiny_config("Lightricks/LTX-2", clip_data, tmp_path / "out")
    code, issues = validate_issues(tmp_path, data, capsys)
    assert code == 2 and set(issues) == {KEY}
    message = issues[KEY]
    assert "model.name_or_path 'Lightricks/LTX-2'" in message and "not in the local Hugging Face cache" in message
    assert str(empty) in message  # the folder looked in
    assert "`hf download Lightricks/LTX-2`" in message and "huggingface-cli download Lightricks/LTX-2" in message
    assert "local diffusers-format folder or an original .safetensors file" in message

    # te_name_or_path is read the same way: its own key is named
    data = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", **{"model.te_name_or_path": "Lightricks/LTX-2"})
    code, issues = validate_issues(tmp_path, data, capsys)
    assert code == 2 and set(issues) == {"config.process[0].model.te_name_or_path"}
    assert str(empty) in issues["config.process[0].model.te_name_or_path"]
    assert no_network == []


def test_validate_accepts_a_cached_hub_id_and_names_the_folders_a_partial_download_lacks(
        tiny_model_dir, clip_data, tmp_path, monkeypatch, capsys, no_network):
    cache = tmp_path / "hub"
    fake_hub_cache(cache, "Lightricks/LTX-2", tiny_model_dir)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    data = tiny_config("Lightricks/LTX-2", clip_data, tmp_path / "out")
    assert validate_issues(tmp_path, data, capsys) == (0, {})
    data = tiny_config(tiny_model_dir, clip_data, tmp_path / "out", **{"model.te_name_or_path": "Lightricks/LTX-2"})
    assert validate_issues(tmp_path, data, capsys) == (0, {})

    # a download with --include that fetched only the transformer and the text side
    partial = tmp_path / "partial-hub"
    snapshot = fake_hub_cache(partial, "Lightricks/LTX-2", tiny_model_dir)
    for name in ("vae", "audio_vae", "vocoder"):
        (snapshot / name).unlink()
    monkeypatch.setenv("HF_HUB_CACHE", str(partial))
    code, issues = validate_issues(tmp_path, tiny_config("Lightricks/LTX-2", clip_data, tmp_path / "out"), capsys)
    assert code == 2 and set(issues) == {KEY}
    assert "lacks vae/, audio_vae/, vocoder/" in issues[KEY] and str(snapshot) in issues[KEY]
    assert '--include "vae/*" "audio_vae/*" "vocoder/*"' in issues[KEY]
    # ... which extras_name_or_path may supply
    data = tiny_config("Lightricks/LTX-2", clip_data, tmp_path / "out",
                       **{"model.extras_name_or_path": str(tiny_model_dir)})
    assert validate_issues(tmp_path, data, capsys) == (0, {})
    assert no_network == []


def test_an_original_file_with_gemma_from_a_hub_id(tiny_files, tiny_model_dir, clip_data, tmp_path, monkeypatch,
                                                   capsys):
    """ai-toolkit's LTX-2.3 default: the single file, Gemma 3 from te_name_or_path Lightricks/LTX-2.
    --validate refuses the id until it is cached; --check only notes it."""
    from extensions_built_in.diffusion_models.ltx2.weights.source_checks import (
        describe_model_source,
        hub_download_notes,
    )
    from toolkit.configuration.loader import validate_config_data

    single = tiny_files("2.3") / SINGLE_FILE["2.3"]
    data = tiny_config(single, clip_data, tmp_path / "out",
                       **{"model.arch": "ltx2.3", "model.te_name_or_path": "Lightricks/LTX-2"})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    code, issues = validate_issues(tmp_path, data, capsys)
    te_key = "config.process[0].model.te_name_or_path"
    assert code == 2 and set(issues) == {te_key} and str(tmp_path / "empty-hub") in issues[te_key]
    model = validate_config_data(data).job.config.process[0].model
    assert describe_model_source(model).startswith("weight files")  # --check goes on ...
    assert hub_download_notes(model) == [issues[te_key]]  # ... with this warning
    fake_hub_cache(tmp_path / "hub", "Lightricks/LTX-2", tiny_model_dir)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert validate_issues(tmp_path, data, capsys) == (0, {})
    assert hub_download_notes(model) == []


def test_a_download_without_the_repos_single_files_is_enough_for_the_checks_and_the_loader(
        tiny_model_dir, clip_data, tmp_path, monkeypatch, capsys):
    """`hf download Lightricks/LTX-2 --include "transformer/*" ...` leaves out the original
    single files at the repo's root; huggingface_hub's cached listing then calls the snapshot
    incomplete. The diffusers folders are all there, so --validate and the loader both use it."""
    from huggingface_hub._tree_cache import TreeCacheEntry, write_tree_cache

    from extensions_built_in.diffusion_models.ltx2.loading import resolve_folder

    cache = tmp_path / "hub"
    snapshot = fake_hub_cache(cache, "Lightricks/LTX-2", tiny_model_dir)
    listed = [(Path(folder) / name).relative_to(snapshot).as_posix()
              for folder, _, names in os.walk(snapshot, followlinks=True) for name in names]
    listed.append("ltx-2-19b-dev.safetensors")  # in the repo, not downloaded
    write_tree_cache(str(cache / "models--Lightricks--LTX-2"), snapshot.name,
                     {name: TreeCacheEntry(size=1, blob_id="0" * 40) for name in listed})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert validate_issues(tmp_path, tiny_config("Lightricks/LTX-2", clip_data, tmp_path / "out"), capsys) == (0, {})
    assert resolve_folder("Lightricks/LTX-2", "name_or_path") == snapshot


def test_a_run_stops_before_any_output_when_the_hub_id_is_not_cached(clip_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config("Lightricks/LTX-2", clip_data, tmp_path / "out")))
    assert run.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{KEY}: model.name_or_path 'Lightricks/LTX-2' is a Hugging Face hub id that is not in" in err
    assert not (tmp_path / "out").exists()  # refused by the start-up checks, not at model load

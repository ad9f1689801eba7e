"""Training from the weight files users download, end to end: a 2.0 single file with its text
side and scheduler from te_name_or_path / extras_name_or_path, a 2.3 single file named in
ai-toolkit's org/repo/file form and read from a Hugging Face cache folder, and a 2.5 ComfyUI
split folder with one model_kwargs file moved elsewhere. Each run trains a few steps and saves a
LoRA that loads back into the version's diffusers transformer exactly."""

from __future__ import annotations

import shutil

import pytest
import torch
from conftest import ARCH_OF_VERSION, run_config, tiny_config

from toolkit.model_files.layout import SINGLE_FILE, SPLIT_FILES_25
from toolkit.network import Network, file_model_version

REVISION = "0123456789abcdef0123456789abcdef01234567"


def _hub_cache(root, repo_id: str, files: dict) -> None:
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<rev>/<file>}."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    for name, source in files.items():
        (repo / "snapshots" / REVISION).mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / REVISION / name).symlink_to(source)


def _model_section(layout: str, tiny_files, tmp_path, monkeypatch) -> tuple[str, dict]:
    if layout == "2.0-single":
        folder = tiny_files("2.0")
        # the text side from te_name_or_path, the scheduler from extras_name_or_path (as ai-toolkit reads them)
        extras = tmp_path / "extras"
        extras.mkdir()
        (extras / "scheduler").symlink_to(folder / "scheduler")
        return str(folder / SINGLE_FILE["2.0"]), {"model.te_name_or_path": str(folder),
                                                  "model.extras_name_or_path": str(extras)}
    if layout == "2.3-hub-file":
        folder = tiny_files("2.3")
        _hub_cache(tmp_path / "hub", "Lightricks/LTX-2.3", {SINGLE_FILE["2.3"]: folder / SINGLE_FILE["2.3"]})
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
        return f"Lightricks/LTX-2.3/{SINGLE_FILE['2.3']}", {"model.te_name_or_path": str(folder)}
    models = tmp_path / "ComfyUI" / "models"
    shutil.copytree(tiny_files("2.5", "split"), models)
    moved = tmp_path / "fast-disk" / "dit.safetensors"
    moved.parent.mkdir()
    shutil.move(models / SPLIT_FILES_25["dit"], moved)
    return str(models), {"model.model_kwargs.dit_path": str(moved)}


@pytest.mark.parametrize("layout", ["2.0-single", "2.3-hub-file", "2.5-split"])
def test_train_from_weight_files_and_reload_the_lora(layout, tiny_files, tiny_version_dir, clip_data, tmp_path,
                                                       monkeypatch):
    version = layout[:3]
    name_or_path, model_keys = _model_section(layout, tiny_files, tmp_path, monkeypatch)
    cfg = tiny_config(name_or_path, clip_data, tmp_path / "out", name="files", steps=3, **{
        "model.arch": ARCH_OF_VERSION[version], "datasets.0.window_variants": 1, **model_keys})
    proc = run_config(cfg)
    log = (proc.out.folder / "log.txt").read_text()
    assert f"version {version}" in log and ".safetensors" in log.split("loaded LTX-2 from ")[1].split(" on ")[0]
    assert proc.step == 3

    lora = proc.out.folder / "files.safetensors"
    assert file_model_version(lora) == version
    from diffusers import LTX2VideoTransformer3DModel

    transformer = LTX2VideoTransformer3DModel.from_pretrained(str(tiny_version_dir(version)), subfolder="transformer")
    fresh = Network(transformer.requires_grad_(False), proc.network.settings)
    fresh.load_file(lora)
    mine, theirs = proc.network.peft_state_dict(), fresh.peft_state_dict()
    assert set(mine) == set(theirs) and mine
    for key in mine:
        assert torch.allclose(mine[key].float(), theirs[key].float(), atol=1e-6, rtol=1e-5), key
    assert any(v.abs().max() > 0 for k, v in mine.items() if "lora_B" in k), "training moved the adapters"

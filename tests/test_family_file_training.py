"""Training from the weight files users download, end to end: a 2.0 single file with its text
side and scheduler from te_name_or_path / extras_name_or_path, a 2.3 single file named in
ai-toolkit's org/repo/file form and read from a Hugging Face cache folder, and a 2.5 ComfyUI
split folder with one model_kwargs file moved elsewhere. Each run trains a few steps and saves a
LoRA that loads back into the version's diffusers transformer exactly. The 2.3 file also
trains under data parallel (two CPU processes, gloo, `accelerate launch`)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import torch
import yaml
from conftest import ARCH_OF_VERSION, REPO, run_config, tiny_config

from extensions_built_in.diffusion_models.ltx2.weights.layout import SINGLE_FILE, SPLIT_FILES_25
from toolkit.lora.network import Network, NetworkSettings, file_model_version

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
    if layout.startswith("2.3-hub-file"):
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


def _train_two_processes(cfg: dict, tmp_path) -> str:
    from test_distributed import LAUNCH, free_port

    path = tmp_path / "dp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    result = subprocess.run(LAUNCH + ["--main_process_port", str(free_port()), str(REPO / "run.py"), str(path)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.parametrize("layout", ["2.0-single", "2.3-hub-file", "2.5-split", "2.3-hub-file-dp"])
def test_train_from_weight_files_and_reload_the_lora(layout, tiny_files, tiny_version_dir, clip_data, tmp_path,
                                                       monkeypatch):
    version = layout[:3]
    name_or_path, model_keys = _model_section(layout, tiny_files, tmp_path, monkeypatch)
    cfg = tiny_config(name_or_path, clip_data, tmp_path / "out", name="files", steps=3, **{
        "model.arch": ARCH_OF_VERSION[version], "datasets.0.window_variants": 1, **model_keys})
    folder = tmp_path / "out" / "files"
    if layout.endswith("-dp"):
        output = _train_two_processes(cfg, tmp_path)  # HF_HUB_CACHE reaches both ranks
        assert "data parallel: 2 processes" in output
        trained, settings = None, NetworkSettings(rank=8, alpha=8.0, model_version=version)
    else:
        proc = run_config(cfg)
        assert proc.step == 3
        trained, settings = proc.network.peft_state_dict(), proc.network.settings
    log = (folder / "log.txt").read_text()
    assert f"version {version}" in log and ".safetensors" in log.split("loaded LTX-2 from ")[1].split(" on ")[0]

    lora = folder / "files.safetensors"
    assert file_model_version(lora) == version
    from diffusers import LTX2VideoTransformer3DModel

    transformer = LTX2VideoTransformer3DModel.from_pretrained(str(tiny_version_dir(version)), subfolder="transformer")
    fresh = Network(transformer.requires_grad_(False), settings)
    fresh.load_file(lora)
    theirs = fresh.peft_state_dict()
    assert any(v.abs().max() > 0 for k, v in theirs.items() if "lora_B" in k), "training moved the adapters"
    if trained is not None:
        assert set(trained) == set(theirs)
        for key in trained:
            assert torch.allclose(trained[key].float(), theirs[key].float(), atol=1e-6, rtol=1e-5), key

"""--validate, --check and the start-up checks judge weight files by the loader's rules, before
any model is loaded (and without importing torch): single files with te/extras paths, the
org/repo/file form, LTX-2.5 split folders and model_kwargs file paths."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO, tiny_config, validate_issues

from extensions_built_in.diffusion_models.ltx2.weights.layout import SINGLE_FILE, SPLIT_FILES_25


def _validate(tmp_path: Path, data: dict, capsys) -> tuple[int, dict[str, str]]:
    """validate_issues with paths relative to the first process."""
    code, issues = validate_issues(tmp_path, data, capsys)
    return code, {path.removeprefix("config.process[0]."): message for path, message in issues.items()}


def test_single_files_and_their_text_side(tiny_files, clip_data, tmp_path, capsys):
    folder = tiny_files("2.3")
    single = folder / SINGLE_FILE["2.3"]
    base = {"model.arch": "ltx2.3"}
    code, issues = _validate(tmp_path, tiny_config(single, clip_data, tmp_path, **base), capsys)
    assert code == 2 and set(issues) == {"model.te_name_or_path"}
    assert str(single) in issues["model.te_name_or_path"] and "text encoder and tokenizer" in issues["model.te_name_or_path"]
    code, issues = _validate(tmp_path, tiny_config(single, clip_data, tmp_path, **base,
                                                   **{"model.te_name_or_path": str(folder)}), capsys)
    assert (code, issues) == (0, {})
    # a helper folder that does not exist, and ai-toolkit's org/repo/file form missing from the cache
    code, issues = _validate(tmp_path, tiny_config(single, clip_data, tmp_path, **base, **{
        "model.te_name_or_path": str(tmp_path / "no-gemma")}), capsys)
    assert code == 2 and "no-gemma" in issues["model.te_name_or_path"]
    os.environ["HF_HUB_CACHE"] = str(tmp_path / "empty-hub")
    try:
        code, issues = _validate(tmp_path, tiny_config("Lightricks/LTX-2.3/ltx-2.3-22b-dev.safetensors", clip_data,
                                                       tmp_path, **base, **{"model.te_name_or_path": str(folder)}),
                                 capsys)
    finally:
        del os.environ["HF_HUB_CACHE"]
    assert code == 2 and "empty-hub" in issues["model.name_or_path"] and "huggingface-cli download" in issues[
        "model.name_or_path"]


def test_missing_split_file_stops_validate_and_check_naming_the_component(tiny_files, clip_data, tmp_path, capsys):
    models = tmp_path / "comfy"
    shutil.copytree(tiny_files("2.5", "split"), models)
    (models / SPLIT_FILES_25["video_vae"]).unlink()
    data = tiny_config(models, clip_data, tmp_path / "out", **{"model.arch": "ltx2.5"})
    code, issues = _validate(tmp_path, data, capsys)
    assert code == 2 and set(issues) == {"model.name_or_path"}
    assert "video VAE file vae/ltx-2.5-video-vae-conv-bf16.safetensors" in issues["model.name_or_path"]
    assert str(models) in issues["model.name_or_path"]

    # a model_kwargs path that points nowhere is named by its own key
    data["config"]["process"][0]["model"]["model_kwargs"] = {"video_vae_path": str(tmp_path / "nope.safetensors")}
    code, issues = _validate(tmp_path, data, capsys)
    assert code == 2 and "nope.safetensors" in issues["model.model_kwargs.video_vae_path"]

    # --check: same verdict, exit 2, before the datasets are read and without model code
    data["config"]["process"][0]["model"]["model_kwargs"] = {}
    (tmp_path / "check.yaml").write_text(yaml.safe_dump(data))
    probe = "import sys, run; code = run.main(sys.argv[1:]); print('MODEL', 'diffusers' in sys.modules); sys.exit(code)"
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "check.yaml"), "--check"],
                            capture_output=True, text=True, cwd=REPO, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2, result.stderr
    assert "video VAE file vae/ltx-2.5-video-vae-conv-bf16.safetensors" in result.stderr
    assert "MODEL False" in result.stdout and "dataset 1 of 1" not in result.stdout

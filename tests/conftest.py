"""Shared fixtures: the tiny LTX-2 and a synthetic dataset, built once per session.

`make test` builds both into models/ and data/ first; when they are missing (a bare
`pytest`), they are built into a temporary folder instead. Tests never write into them:
anything a run writes (caches, outputs) goes under the test's own tmp_path.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import toolkit  # noqa: E402,F401  (sets the torchao environment knob before torch imports)

# The tiny model's ops are far too small to gain from a second thread, and on a shared
# 2-core machine OpenMP spin-waiting made them up to 50x slower; one thread keeps tests steady.
torch.set_num_threads(1)

# Environment variables that pick the CPU kernels' code path; `make test` runs the tests marked
# `numerics` a second time under another one (Makefile: test-numerics).
CPU_PATH_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "numerics: compares numbers across loads, files, processes or resumes; run again under a "
        "second CPU code path by `make test` (tests/numerics.py says what stays bit-exact)")
    wanted = os.environ.get("ATEN_CPU_CAPABILITY")
    have = torch.backends.cpu.get_cpu_capability()
    if wanted and have.lower() != wanted.lower():  # a run that claims a code path must have it
        raise pytest.UsageError(f"ATEN_CPU_CAPABILITY={wanted} was asked for, but torch runs {have}")


def pytest_report_header(config):
    chosen = ", ".join(f"{name}={os.environ[name]}" for name in CPU_PATH_VARIABLES if name in os.environ)
    return f"CPU code path: ATen {torch.backends.cpu.get_cpu_capability()}" + (f" ({chosen})" if chosen else "")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built

    prebuilt = REPO / "models" / "tiny-ltx2"
    if is_built(prebuilt):
        return prebuilt
    return build_tiny_ltx2(tmp_path_factory.mktemp("model") / "tiny-ltx2")


@pytest.fixture(scope="session")
def tiny_version_dir(tiny_model_dir, tmp_path_factory):
    """version ("2.0", "2.3", "2.5") -> its tiny model folder (models/tiny-ltx2.3 ..., or
    built once into a temporary folder when missing)."""
    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built

    built = {"2.0": tiny_model_dir}

    def get(version: str) -> Path:
        if version not in built:
            prebuilt = REPO / "models" / f"tiny-ltx{version}"
            built[version] = prebuilt if is_built(prebuilt) else build_tiny_ltx2(
                tmp_path_factory.mktemp("model") / f"tiny-ltx{version}", version=version)
        return built[version]

    return get


ARCH_OF_VERSION = {"2.0": "ltx2", "2.3": "ltx2.3", "2.5": "ltx2.5"}


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory, tiny_version_dir):
    """(version, layout) -> the tiny model as original weight files, built once per session
    (extensions_built_in.diffusion_models.ltx2.tiny_model --layout single|split) from the tiny folder of that version, so the
    files hold the folder's weights bit for bit on any CPU."""
    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_files

    built: dict[tuple[str, str], Path] = {}

    def get(version: str, layout: str = "single") -> Path:
        if (version, layout) not in built:
            built[version, layout] = build_tiny_files(
                tmp_path_factory.mktemp("files") / f"tiny-ltx{version}-{layout}", version=version, layout=layout,
                source=tiny_version_dir(version))
        return built[version, layout]

    return get


@pytest.fixture(scope="session")
def lora_files(tiny_version_dir, tmp_path_factory):
    """The lora_tools tests' tiny 2.3 model, pipeline and LoRA files of every trainer's layout
    (tests/lora_tool_files.py), each made once per session when first asked for."""
    from lora_tool_files import VERSION, LoraFiles

    return LoraFiles(tiny_version_dir(VERSION), tmp_path_factory.mktemp("lora_files"))


def fake_hub_cache(root: Path, repo_id: str, model_dir: Path) -> Path:
    """The layout huggingface_hub writes (models--org--name/{refs/main, snapshots/<commit>/...}),
    with `model_dir`'s entries linked in; returns the snapshot folder."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for entry in sorted(model_dir.iterdir()):
        (snapshot / entry.name).symlink_to(entry)
    return snapshot


@pytest.fixture(scope="session")
def _ltx2_hub_cache(tiny_model_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hf-hub")
    fake_hub_cache(root, "Lightricks/LTX-2", tiny_model_dir)
    return root


@pytest.fixture
def hub_cache(_ltx2_hub_cache, monkeypatch) -> Path:
    """HF_HUB_CACHE set to a Hugging Face cache holding `Lightricks/LTX-2` (the tiny model), for
    tests whose configs name the hub id: --validate and start-up refuse one that is not cached."""
    monkeypatch.setenv("HF_HUB_CACHE", str(_ltx2_hub_cache))
    return _ltx2_hub_cache


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    from toolkit.dev.synthetic_data import make_dataset

    prebuilt = REPO / "data" / "synthetic"
    if (prebuilt / ".complete").exists():
        return prebuilt
    out = tmp_path_factory.mktemp("synthetic")
    make_dataset(out, clips=4, images=2, seconds=2.0, size=64, seed=0)
    return out


def copy_media(src: Path, dst: Path, names: list[str]) -> Path:
    """Copy named media files (with their captions) into a fresh dataset folder."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(src / name, dst / name)
        caption = (src / name).with_suffix(".txt")
        if caption.exists():
            shutil.copy2(caption, dst / caption.name)
    return dst


def tiny_config(model_dir: Path, dataset_dir: Path, out_dir: Path, *, name: str = "t", steps: int = 20, **overrides) -> dict:
    """An ai-toolkit-shaped config dict for the tiny model; `overrides` are dotted keys."""
    process = {
        "type": "sd_trainer",
        "training_folder": str(out_dir),
        "device": "cpu",
        "network": {"type": "lora", "linear": 8, "linear_alpha": 8, "rank_dropout": 0.0},
        "train": {"steps": steps, "lr": 2e-3, "dtype": "fp32", "gradient_checkpointing": False,
                  "noise_offset": 0.0, "seed": 3, "skip_first_sample": True, "disable_sampling": True},
        "model": {"name_or_path": str(model_dir)},
        "datasets": [{"folder_path": str(dataset_dir), "resolution": [64], "num_frames": 9, "fps": 24}],
        "save": {"dtype": "fp32", "save_every": 1000},
        "sample": {"sample_every": 1000, "width": 64, "height": 64, "num_frames": 9, "sample_steps": 2,
                   "guidance_scale": 1.0, "samples": [{"prompt": "a red circle"}]},
        "logging": {"log_every": 1},
    }
    for dotted, value in overrides.items():
        target = process
        parts = dotted.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        target[parts[-1]] = value
    return {"job": "extension", "config": {"name": name, "process": [process]}}


def run_config(data: dict, part=None):
    """Validate and run a config dict in this process; returns the TrainProcess. `part`: a
    function of the run state that makes a part added to the run (jobs/process/run_state.py)."""
    from jobs.process.BaseSDTrainProcess import TrainProcess
    from toolkit.configuration.loader import validate_config_data

    loaded = validate_config_data(data)
    process = loaded.job.config.process[0]
    proc = TrainProcess(process, loaded.job.config.name, loaded.raw)
    if part is not None:
        proc.add_part(part(proc.state))
    proc.run()
    return proc


def validate_issues(tmp_path: Path, data: dict, capsys) -> tuple[int, dict[str, str]]:
    """`run.py --validate --json` on `data` (written to tmp_path/c.yaml), in this process:
    (exit code, {issue path: message})."""
    import json

    import yaml

    import run

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    code = run.main(["--validate", "--json", str(path)])
    report = json.loads(capsys.readouterr().out)
    return code, {i["path"]: i["message"] for i in report["issues"]}


def prepared(data: dict):
    """Validate a config dict and run TrainProcess.prepare(): tests then drive steps themselves."""
    from jobs.process.BaseSDTrainProcess import TrainProcess
    from toolkit.configuration.loader import validate_config_data

    loaded = validate_config_data(data)
    proc = TrainProcess(loaded.job.config.process[0], loaded.job.config.name, loaded.raw)
    proc.prepare()
    return proc


@pytest.fixture(scope="module")
def clip_data(synthetic_dir, tmp_path_factory):
    """Two clips with speech, copied per test module."""
    return copy_media(synthetic_dir, tmp_path_factory.mktemp("clips"), ["clip_000.mp4", "clip_001.mp4"])


@pytest.fixture(scope="module")
def mixed_data(synthetic_dir, tmp_path_factory):
    """One clip with speech and one image."""
    return copy_media(synthetic_dir, tmp_path_factory.mktemp("mixed"), ["clip_000.mp4", "image_000.png"])


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory) -> Path:
    """A tiny Whisper folder made offline from transformers' classes (tests/tiny_whisper.py)."""
    from tiny_whisper import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-whisper")


@pytest.fixture(scope="session")
def odd_media(tmp_path_factory):
    """Media as users bring it (tests/odd_media.py): `odd_media.get("out_of_phase")` builds that
    file once per session, on first use."""
    from odd_media import OddMedia

    return OddMedia(tmp_path_factory.mktemp("odd_media"))

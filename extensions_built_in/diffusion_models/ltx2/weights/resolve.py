"""Config values -> the weight files to load. Nothing is downloaded.

    model.name_or_path                                   what it means
    /models/ltx-2.3-22b-dev.safetensors                  one original single file
    Lightricks/LTX-2.3/ltx-2.3-22b-dev.safetensors       ai-toolkit's org/repo/file form: the file
                                                         in the local Hugging Face cache
    /ComfyUI/models            (LTX-2.5)                 a ComfyUI models folder holding the split
                                                         files (diffusion_models/, text_encoders/, vae/)
    Lightricks/LTX-2.5         (LTX-2.5)                 the split files in the Hugging Face cache
    /…/diffusion_models/ltx-2.5-…-transformer-….safetensors
                               (LTX-2.5)                 the DiT file; the others next to it

`model.model_kwargs.dit_path`, `text_encoder_path`, `video_vae_path`, `audio_vae_path` name a
split file directly (local path or org/repo/file) and win over any search. A diffusers-format
folder or repo is not an original file: `resolve_model_files` returns None for it and the
diffusers loader takes over.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from huggingface_hub import snapshot_download, try_to_load_from_cache
from huggingface_hub.errors import HFValidationError, IncompleteSnapshotError, LocalEntryNotFoundError

from extensions_built_in.diffusion_models.ltx2.weights.components import check_version
from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError
from extensions_built_in.diffusion_models.ltx2.weights.file_index import read_header
from extensions_built_in.diffusion_models.ltx2.weights.layout import (
    FP8_FILES,
    HUB_REPO,
    OVERRIDE_KEY,
    ROLE_DESCRIPTION,
    SINGLE_FILE,
    SPLIT_FILES_25,
)


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time, in huggingface_hub's
    order (HF_HUB_CACHE, then the older HUGGINGFACE_HUB_CACHE, then HF_HOME/hub, then
    XDG_CACHE_HOME/huggingface/hub): the checks must look where the loader will read."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.path.expandvars(os.environ[name])).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def cached_hub_snapshot(repo_id: str) -> Path | None:
    """The snapshot folder of a hub repo's main revision in the local cache, or None when the
    cache holds none (never downloads). The loader and the checks both call this, so they agree.

    A snapshot that huggingface_hub knows to be partial (downloaded with `--include`, or
    interrupted) is returned too: a diffusers repo needs only some of its folders (Lightricks/LTX-2
    also holds the original single files), and the callers name the component folders it lacks."""
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, cache_dir=str(hub_cache_dir())))
    except IncompleteSnapshotError as exc:
        return Path(exc.snapshot_path)
    except (LocalEntryNotFoundError, HFValidationError):
        return None


def cached_hub_file(repo_id: str, filename: str) -> Path | None:
    """The file of a hub repo in the local cache, or None (never downloads)."""
    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(hub_cache_dir()))
    return Path(found) if isinstance(found, str) else None


def _split_hub_path(value: str) -> tuple[str, str] | None:
    """'org/repo/sub/file.safetensors' -> ('org/repo', 'sub/file.safetensors')."""
    parts = value.replace("\\", "/").split("/")
    if len(parts) >= 3 and value.endswith(".safetensors") and not value.startswith(("/", ".", "~")):
        return "/".join(parts[:2]), "/".join(parts[2:])
    return None


def resolve_file(value: str, what: str, key: str) -> Path:
    """A local .safetensors path or an org/repo/file in the hub cache; else one ModelFileError."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    hub = _split_hub_path(value)
    looked = [str(path.resolve())]
    if hub:
        found = cached_hub_file(*hub)
        if found:
            return found
        looked.append(f"the Hugging Face cache {hub_cache_dir()} (repo {hub[0]}, file {hub[1]})")
        fix = (f"download it first (huggingface-cli download {hub[0]} {hub[1]}) or give a local path; "
               "the trainer downloads nothing")
    else:
        fix = "give an existing .safetensors file"
    raise ModelFileError(f"{what}: {key} '{value}' not found; looked in {' and in '.join(looked)}: {fix}")


def _kwarg(model_kwargs: Any, name: str) -> str | None:
    if model_kwargs is None:
        return None
    if isinstance(model_kwargs, Mapping):
        return model_kwargs.get(name)
    return getattr(model_kwargs, name, None)


def _has_vae_keys(path: Path) -> bool:
    """Whether a 2.5 file is a unified single file (it has the video VAE) rather than the DiT file."""
    keys, _ = read_header(path, "model.name_or_path")
    return any(k.startswith("vae.") for k in keys)


def resolve_model_files(version: str, name_or_path: str, model_kwargs: Any = None) -> dict[str, Path] | None:
    """File role -> path for `load_components`, or None for a diffusers-format folder / repo."""
    check_version(version)
    overrides = {role: resolve_file(v, f"LTX-{version} {ROLE_DESCRIPTION[role]} file",
                                    f"model.model_kwargs.{key}")
                 for role, key in OVERRIDE_KEY.items() if (v := _kwarg(model_kwargs, key))}
    local = Path(name_or_path).expanduser()
    if local.is_dir() and (local / "transformer").is_dir():
        return None  # diffusers-format folder
    if name_or_path.endswith(".safetensors"):
        file = resolve_file(name_or_path, f"LTX-{version} model file", "model.name_or_path")
        if version != "2.5" or _has_vae_keys(file):
            return {"checkpoint": file, **overrides}
        # an LTX-2.5 DiT file: the other split files are searched in its models folder
        root = file.parent.parent if file.parent.name == "diffusion_models" else file.parent
        return _split_files(version, {"dit": file, **overrides}, local_root=root, repo=None,
                            source=f"the folder {root}")
    if local.is_dir():
        if version == "2.5":  # released only as split files
            return _split_files(version, overrides, local_root=local, repo=None, source=f"the folder {local}")
        single = local / SINGLE_FILE[version]
        if single.is_file():
            return {"checkpoint": single, **overrides}
        raise ModelFileError(
            f"LTX-{version} model file: model.name_or_path '{name_or_path}' is a folder without "
            f"{SINGLE_FILE[version]} and without a diffusers transformer/ subfolder: give the "
            f".safetensors file itself (e.g. {HUB_REPO[version]}/{SINGLE_FILE[version]}; the fp8 file is in "
            f"{FP8_FILES[version]})")
    if version == "2.5" and "/" in name_or_path and not name_or_path.startswith(("/", ".", "~")):
        # A hub id is the split pack when it is Lightricks' split repo or the cache holds any of
        # its files; otherwise (Lightricks/LTX-2.5-Diffusers, ...) it is a diffusers repo.
        if name_or_path != HUB_REPO[version] and not overrides and not any(
                cached_hub_file(name_or_path, rel) for rel in SPLIT_FILES_25.values()):
            return None
        return _split_files(version, overrides, local_root=None, repo=name_or_path,
                            source=f"the Hugging Face cache {hub_cache_dir()} (repo {name_or_path})")
    return None  # a diffusers repo id (or a missing path that model_paths reports)


def _split_files(version: str, given: dict[str, Path], *, local_root: Path | None, repo: str | None,
                 source: str) -> dict[str, Path]:
    found, missing = dict(given), []
    for role, rel in SPLIT_FILES_25.items():
        if role in found:
            continue
        path = _search(local_root, rel) if local_root is not None else cached_hub_file(repo, rel)
        if path is None:
            missing.append(f"{ROLE_DESCRIPTION[role]} file {rel} "
                           f"(or set model.model_kwargs.{OVERRIDE_KEY[role]})")
        else:
            found[role] = path
    if missing:
        raise ModelFileError(
            f"LTX-{version} split files: not found in {source}: {'; '.join(missing)}. Put them in a "
            "ComfyUI models folder (diffusion_models/, text_encoders/, vae/) and point "
            "model.name_or_path at it; see docs/models.md")
    return found


def _search(root: Path, rel: str) -> Path | None:
    """ComfyUI's places for a file: its category folder, the folder itself, any subfolder of the category."""
    name, category = Path(rel).name, Path(rel).parent
    for candidate in (root / rel, root / name):
        if candidate.is_file():
            return candidate
    category_dir = root / category
    if category_dir.is_dir():
        for hit in sorted(category_dir.rglob(name)):
            if hit.is_file():
                return hit
    return None

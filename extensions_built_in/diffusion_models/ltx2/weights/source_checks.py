"""Where a model comes from, checked without loading it (and without importing torch).

The same rules as the adapter's loader (extensions_built_in/diffusion_models/ltx2/loading.py),
so `--validate`, `--check` and the start-up checks refuse exactly what the loader would:
- a diffusers-format folder, or a hub id read from the Hugging Face cache;
- original weight files: one single file (local or ai-toolkit's `org/repo/file.safetensors`),
  LTX-2.5's split files in a ComfyUI `models` folder (or `Lightricks/LTX-2.5`), and the
  `model.model_kwargs` file paths;
- `te_name_or_path` / `extras_name_or_path` for what name_or_path does not hold (the Gemma
  text side of an original 2.0/2.3 file; any component of a partial diffusers folder).

A hub id must be in the local Hugging Face cache (nothing is downloaded, the network is never
asked), with the component folders the run needs: its cached snapshot is judged like a local
folder. `--check` is the exception: it checks the data while a large download may still be
running, so there a hub id that is not (fully) cached is a warning, not an error.
"""

from __future__ import annotations

import re
from pathlib import Path

from extensions_built_in.diffusion_models.ltx2.file_sources import weight_files
from extensions_built_in.diffusion_models.ltx2.versions import get_version
from extensions_built_in.diffusion_models.ltx2.weights.file_index import GEMMA_METADATA, SPIECE_MODEL, read_header
from extensions_built_in.diffusion_models.ltx2.weights.folder_checks import component_file_problems
from extensions_built_in.diffusion_models.ltx2.weights.layout import ROLE_DESCRIPTION
from extensions_built_in.diffusion_models.ltx2.weights.places import COMPONENTS, TEXT_COMPONENTS, find_component
from extensions_built_in.diffusion_models.ltx2.weights.resolve import cached_hub_snapshot, hub_cache_dir
from toolkit.errors import UserInputError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

# What a diffusers-format folder holds (the subfolders the loader reads, places.COMPONENTS), every
# LTX-2 version, in the order a message lists them.
DIFFUSERS_SUBFOLDERS = tuple(sorted(COMPONENTS, key=("transformer", "vae", "audio_vae", "vocoder", "connectors",
                                                     "text_encoder", "tokenizer", "scheduler").index))
TEXT_SUBFOLDERS = TEXT_COMPONENTS
_KEYS = tuple(f"model.model_kwargs.{k}" for k in ("dit_path", "text_encoder_path", "video_vae_path",
                                                   "audio_vae_path")) + (
    "model.te_name_or_path", "model.extras_name_or_path")


def resolve_model_path(name_or_path: str) -> tuple[str, bool]:
    """Return (path_or_id, is_local) of a diffusers-format folder or hub id. A path that does not
    exist and is not a hub id is an error."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "transformer").is_dir():
            raise UserInputError(
                f"model.name_or_path '{name_or_path}' is a folder but has no 'transformer' subfolder: "
                "point it at a diffusers-format LTX-2 folder (transformer/, vae/, audio_vae/, vocoder/, "
                "connectors/, text_encoder/, tokenizer/, scheduler/), an original .safetensors file or, for "
                "LTX-2.5, a ComfyUI models folder with the split files"
            )
        return str(path), True
    looks_local = name_or_path.startswith(("/", ".", "~")) or "\\" in name_or_path
    if looks_local or not _HUB_ID.match(name_or_path):
        raise UserInputError(
            f"model.name_or_path '{name_or_path}' does not exist: give a local diffusers-format folder, "
            "an original .safetensors file, or a hub id such as Lightricks/LTX-2"
        )
    return name_or_path, False


def model_source_problems(model, *, cache: bool = True) -> list[tuple[str, str]]:
    """(key, message) for every problem with a model section's paths (a ModelConfig).
    `cache=False` trusts hub ids without looking in the Hugging Face cache (see `--check`)."""

    version = get_version(model.arch)
    te, extras = model.te_name_or_path, model.extras_name_or_path
    try:
        files = weight_files(version, model.name_or_path, te, extras, model.model_kwargs.file_paths())
    except UserInputError as exc:
        return [(_key_named_in(str(exc)), str(exc))]
    if files:
        return _file_problems(version, files, te, extras, cache)
    try:
        source, is_local = resolve_model_path(model.name_or_path)
    except UserInputError as exc:
        return [("model.name_or_path", str(exc))]
    problems = _helper_folder_problems(te, extras, cache)
    if is_local:
        folder = Path(source)
    elif not cache:
        return problems
    else:
        folder = cached_hub_snapshot(source)
        if folder is None:
            return [("model.name_or_path", not_in_hub_cache("name_or_path", source))] + problems
    missing = [name for name in DIFFUSERS_SUBFOLDERS
               if not (folder / name).is_dir() and not _elsewhere(name, te, extras, cache)]
    if missing:
        folders = ", ".join(f"{m}/" for m in missing)
        if is_local:
            problems.append(("model.name_or_path", (
                f"'{source}' lacks {folders} needed by arch {model.arch}: point it at a complete diffusers-format "
                f"folder ({', '.join(DIFFUSERS_SUBFOLDERS)}), or add model.extras_name_or_path (VAEs, vocoder, "
                "connectors, scheduler) / model.te_name_or_path (text encoder, tokenizer)")))
        else:
            include = " ".join(f'"{m}/*"' for m in missing)
            problems.append(("model.name_or_path", (
                f"model.name_or_path '{source}' is only partly in the local Hugging Face cache ({folder} lacks "
                f"{folders} needed by arch {model.arch}): download them with `hf download {source} --include "
                f"{include}` (or `huggingface-cli download {source}` for the whole repo), or add "
                "model.extras_name_or_path / model.te_name_or_path for them")))
    # Present folders must hold their files too (the loader reads te_name_or_path's text side first).
    # `--check` (cache=False) only warns about it, as about a download still running.
    used = [name for name in DIFFUSERS_SUBFOLDERS
            if name not in missing and not (name in TEXT_SUBFOLDERS and _elsewhere(name, te, None, cache))]
    incomplete = component_file_problems(folder, used) if cache else []
    if incomplete and missing:  # one problem per key: the folders it lacks, then what the others lack
        problems[-1] = (problems[-1][0], f"{problems[-1][1]}; besides, {'; '.join(incomplete)}")
    elif incomplete:
        what = "; ".join(incomplete)
        problems.append(("model.name_or_path", (
            f"'{source}' is incomplete ({what}): copy or download the missing files into {folder}, or point "
            "model.name_or_path at a complete diffusers-format folder" if is_local else
            f"model.name_or_path '{source}' is only partly downloaded in the local Hugging Face cache ({folder}: "
            f"{what}): finish the download with `hf download {source}` (it fetches only what is missing)")))
    return problems


def not_in_hub_cache(key: str, value: str) -> str:
    """What to do about a hub id the local Hugging Face cache does not hold."""
    return (f"model.{key} '{value}' is a Hugging Face hub id that is not in the local Hugging Face cache "
            f"({hub_cache_dir()}, set by HF_HUB_CACHE or HF_HOME), and there is no folder {Path.cwd() / value} "
            "(relative paths are read from the current directory); the trainer downloads nothing: fetch it first "
            f"with `hf download {value}` (or `huggingface-cli download {value}`), or point model.{key} at a local "
            + ("diffusers-format folder or an original .safetensors file" if key == "name_or_path"
               else "diffusers-format folder"))


def hub_download_notes(model) -> list[str]:
    """For `--check`: what is not yet in the Hugging Face cache (hub ids missing from it, or
    cached without folders the run needs) and component folders without their files; empty
    when all is there. Call after the paths passed `model_source_problems(model, cache=False)`."""
    return [text for _, text in model_source_problems(model)]


def describe_model_source(model) -> str:
    """One line saying where the model comes from; the first problem as a UserInputError (exit 2)."""
    problems = model_source_problems(model, cache=False)
    if problems:
        raise UserInputError(problems[0][1])

    files = weight_files(get_version(model.arch), model.name_or_path, model.te_name_or_path,
                         model.extras_name_or_path, model.model_kwargs.file_paths())
    if files:
        return "weight files " + ", ".join(f"{role}: {path}" for role, path in files.items())
    source, is_local = resolve_model_path(model.name_or_path)
    if is_local:
        return f"{source} (local folder)"
    snapshot = cached_hub_snapshot(source)
    return f"{source} (hub id, " + (f"in the Hugging Face cache: {snapshot})" if snapshot else
                                    f"NOT in the Hugging Face cache {hub_cache_dir()})")


def _key_named_in(message: str) -> str:
    """The config key a loader message is about (the first one it names with a value)."""
    for key in _KEYS:
        if f"{key} '" in message or message.startswith(f"{key} "):
            return key
    return "model.name_or_path"


def _file_problems(version, files: dict[str, Path], te: str | None, extras: str | None,
                   cache: bool = True) -> list[tuple[str, str]]:
    problems = []
    for role, path in files.items():
        try:
            read_header(path, f"LTX-{version.number} {ROLE_DESCRIPTION[role]} file")
        except UserInputError as exc:
            problems.append((_key_named_in(str(exc)), str(exc)))
    helpers = _helper_folder_problems(te, extras, cache)
    problems += helpers
    if not helpers and "text_encoder" not in files and not all(_elsewhere(name, te, extras, cache) for name in TEXT_SUBFOLDERS):
        where = ", ".join(str(p) for p in files.values())
        problems.append(("model.te_name_or_path", (
            f"the text encoder and tokenizer (Gemma) are not inside the weight files ({where}) and "
            f"model.te_name_or_path / model.extras_name_or_path {'give none' if te or extras else 'are not set'}: "
            "set model.te_name_or_path to a folder with text_encoder/ and tokenizer/ (or a Gemma folder itself) "
            f"or a hub id such as {version.hub_id}")))
    if not helpers and "text_encoder" in files and version.number != "2.5":
        # a Gemma 3 text-encoder file (ComfyUI's) carries its tokenizer (spiece_model) but no config
        # (gemma3_file.py); a file our writer made records its config
        keys, metadata = read_header(files["text_encoder"], "model.te_name_or_path")
        lacks = [what for what, inside, name in (
            ("tokenizer/", SPIECE_MODEL in keys, "tokenizer"),
            ("text_encoder/config.json", GEMMA_METADATA in metadata, "text_encoder"))
            if not inside and not _elsewhere(name, te, extras, cache)]
        if lacks:
            problems.append(("model.extras_name_or_path", (
                f"the text-encoder file {files['text_encoder']} is a Gemma 3 weight file that holds no "
                f"{' and no '.join('tokenizer' if w == 'tokenizer/' else 'configuration' for w in lacks)}: set "
                f"model.extras_name_or_path to a folder with {' and '.join(lacks)} (e.g. "
                "Lightricks/LTX-2 with only those downloaded)")))
    return problems


def _helper_folder_problems(te: str | None, extras: str | None, cache: bool = True) -> list[tuple[str, str]]:
    problems = []
    for key, value in (("te_name_or_path", te), ("extras_name_or_path", extras)):
        if not value or value.endswith(".safetensors"):
            continue  # a weight file (LTX-2.5's text-encoder file): checked with the other files
        if _is_local(value) and not Path(value).expanduser().is_dir():
            problems.append((f"model.{key}", f"model.{key} '{value}' is not an existing folder: give a "
                                             "diffusers-format folder or a hub id"))
        elif cache and not _is_local(value) and not Path(value).expanduser().is_dir() \
                and cached_hub_snapshot(value) is None:
            problems.append((f"model.{key}", not_in_hub_cache(key, value)))
    return problems


def _is_local(value: str) -> bool:
    return value.startswith(("/", ".", "~")) or "\\" in value or not _HUB_ID.match(value)


def _elsewhere(component: str, te: str | None, extras: str | None, cache: bool = True) -> bool:
    """Whether te_name_or_path / extras_name_or_path can supply `component`: a local folder, or a
    hub id's cached snapshot (with `cache=False` a hub id is trusted)."""
    looked = ([("te_name_or_path", te)] if component in TEXT_SUBFOLDERS else []) + [("extras_name_or_path", extras)]
    for key, value in looked:
        if not value or value.endswith(".safetensors"):
            continue
        folder = Path(value).expanduser()
        if not _is_local(value) and not folder.is_dir():
            if not cache:
                return True
            snapshot = cached_hub_snapshot(value)
            if snapshot is None:
                continue
            folder = snapshot
        if find_component(component, key, folder) is not None:
            return True
    return False

"""Load LTX-2 components from original weight files into the real diffusers / transformers classes.

    load_components("2.3", {"checkpoint": "ltx-2.3-22b-dev.safetensors"}, configs)
    load_components("2.5", {"dit": ..., "text_encoder": ..., "video_vae": ..., "audio_vae": ...})

Each component is built empty from its diffusers config (given in `configs`, else the one
our writer stored in the file's metadata), every tensor it expects is looked up under its
original name, and it is loaded strictly: a missing tensor, a tensor of another shape or a
tensor of the component that the module does not have is one ModelFileError naming the
component and the file. Only the tensors a component needs are read from disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from extensions_built_in.diffusion_models.ltx2.weights import fp8
from extensions_built_in.diffusion_models.ltx2.weights.classes import build_empty
from extensions_built_in.diffusion_models.ltx2.weights.components import (
    DESCRIPTION,
    WEIGHT_COMPONENTS,
    check_version,
    key_namer,
)
from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError
from extensions_built_in.diffusion_models.ltx2.weights.file_index import CONFIGS_METADATA, GEMMA_METADATA
from extensions_built_in.diffusion_models.ltx2.weights.keys_dit import DIT_PREFIX, is_connector_key
from extensions_built_in.diffusion_models.ltx2.weights.keys_gemma import is_text_model_key
from extensions_built_in.diffusion_models.ltx2.weights.keys_vae import (
    AUDIO_VAE_PREFIX,
    UNUSED_STATISTICS,
    VIDEO_VAE_PREFIX,
)
from extensions_built_in.diffusion_models.ltx2.weights.keys_vocoder import VOCODER_PREFIX
from extensions_built_in.diffusion_models.ltx2.weights.layout import (
    DIFFUSION_DECODER_HINT,
    DIFFUSION_DECODER_KEY,
    ROLE_DESCRIPTION,
    ROLES,
    component_roles,
    spellings,
    split_role,
)
from extensions_built_in.diffusion_models.ltx2.weights.stream import ComponentWeights, default_dtype, stream_into
from extensions_built_in.diffusion_models.ltx2.weights.tokenizer_assets import (
    SPIECE_MODEL,
    build_spiece_tokenizer,
    build_tokenizer,
    embedded_files,
    is_asset_key,
    tensor_bytes,
)
from extensions_built_in.diffusion_models.ltx2.weights.weight_file import WeightFile

REQUIRED = ("transformer", "connectors", "vae", "audio_vae", "vocoder")
KEYFRAME_KEY = DIT_PREFIX + "keyframes_abs_pos_embedding"


def load_components(
    version: str,
    paths: Mapping[str, Any],
    configs: Mapping[str, dict] | None = None,
    *,
    components: Iterable[str] | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """component name -> module (and "tokenizer" when the 2.5 text-encoder file is given).

    `paths` maps file roles (see layout.py) to files. `dtype` casts floating tensors (None keeps
    the stored dtype; fp8 is then upcast to bf16). Modules come back on the CPU in eval mode.
    Every tensor is read as it is assigned (stream.py); `open_components` lets the caller put
    each block where it rests while it loads.
    """
    opened = open_components(version, paths, configs, components=components, dtype=dtype)
    return {name: item if name == "tokenizer" else stream_into(item) for name, item in opened.items()}


def open_components(
    version: str,
    paths: Mapping[str, Any],
    configs: Mapping[str, dict] | None = None,
    *,
    components: Iterable[str] | None = None,
    dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """component name -> ComponentWeights (the module built empty, every tensor located and
    checked: missing, of another shape, or not the module's), plus "tokenizer" as in
    `load_components`. Nothing but the 2.5 tokenizer is read; `stream_into` reads the rest."""
    check_version(version)
    unknown = set(paths) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown file roles {sorted(unknown)}; known: {', '.join(ROLES)}")
    wanted = list(components) if components is not None else [
        c for c in WEIGHT_COMPONENTS if c in REQUIRED or "text_encoder" in paths]
    configs = dict(configs or {})
    out: dict[str, Any] = {}
    files: dict[str, WeightFile] = {}
    for role, path in paths.items():
        if path is None:
            continue
        files[role] = WeightFile(role, path, f"LTX-{version} {ROLE_DESCRIPTION[role]} file")
        _check_stored_version(files[role], version)
    for component in wanted:
        if component == "tokenizer":
            continue
        mine = [files[r] for r in component_roles(component) if r in files]
        if not mine:
            raise ModelFileError(
                f"LTX-{version} {DESCRIPTION[component]}: no file given for it (have: "
                f"{', '.join(f'{r}={files[r].path}' for r in files) or 'none'})")
        if not any(_owned(component, f.role, k) for f in mine for k in f.keys):
            raise ModelFileError(
                f"LTX-{version} {DESCRIPTION[component]}: not in {' or '.join(str(f.path) for f in mine)} "
                f"(it holds {'; '.join(f.summary() for f in mine)}){_hint(component, mine)}")
        config = configs.get(component) or _stored_config(component, mine)
        out[component] = _open_one(component, version, config, files, dtype)
    if "text_encoder" in files and (components is None or "tokenizer" in wanted):
        tokenizer = _embedded_tokenizer(version, files["text_encoder"])
        if tokenizer is not None:
            out["tokenizer"] = tokenizer
    return out


def _embedded_tokenizer(version: str, file: WeightFile):
    """The tokenizer inside a text-encoder file: always in LTX-2.5's, and in a Gemma 3 file for
    2.0/2.3 when it carries ComfyUI's `spiece_model` (else None: it comes from a folder)."""
    where = f"LTX-{version} text-encoder file {file.path}"
    if version != "2.5":
        return build_spiece_tokenizer(tensor_bytes(file.tensor(SPIECE_MODEL)), where) if SPIECE_MODEL in file.keys else None
    assets = embedded_files(file.keys, file.tensor, file.metadata)
    if "tokenizer.json" not in assets:
        raise ModelFileError(
            f"LTX-{version} tokenizer: {file.path} embeds no tokenizer "
            "(no 'tokenizer_json' tensor): is it the ComfyUI text-encoder file "
            "gemma4-12b-with-proj-ltx-2.5-*.safetensors?")
    return build_tokenizer(assets, where)


def _check_stored_version(file: WeightFile, version: str) -> None:
    stored = file.stored_version()
    if stored and stored in ("2.0", "2.3", "2.5") and stored != version:
        raise ModelFileError(
            f"{file.path} is an LTX-{stored} file (metadata model_version "
            f"{file.metadata.get('model_version')}), but LTX-{version} was asked for: set model.arch "
            f"to match the file or give the LTX-{version} file")


def _stored_config(component: str, files: list[WeightFile]) -> dict:
    for file in files:
        if component == "text_encoder":
            gemma = file.json_metadata(GEMMA_METADATA)
            if gemma:
                return gemma.get("text_config", gemma)
            continue
        stored = file.json_metadata(CONFIGS_METADATA) or {}
        if component in stored:
            return stored[component]
    where = ", ".join(str(f.path) for f in files)
    raise ModelFileError(
        f"{DESCRIPTION[component]}: no diffusers config for it: {where} carries none in its metadata "
        "(Lightricks' original files do not), so the loader must be given the version's configs")


def _owned(component: str, role: str, key: str) -> bool:
    """Whether a file key belongs to `component` (to report tensors the module does not have)."""
    if fp8.is_side_key(key) or is_asset_key(key) or key.endswith(UNUSED_STATISTICS):
        return False
    if component == "transformer":
        return key.startswith(DIT_PREFIX) and not is_connector_key(key)
    if component == "connectors":
        return is_connector_key(key)
    if component == "vae":
        return key.startswith(VIDEO_VAE_PREFIX) or (role == "video_vae" and "." in key
                                                    and not key.startswith(
        ("audio_vae.", "vocoder.", "model.", "text_embedding_projection.")))
    if component == "audio_vae":
        return key.startswith(AUDIO_VAE_PREFIX)
    if component == "vocoder":
        return key.startswith(VOCODER_PREFIX)
    return is_text_model_key(key)


def _file_decides(component: str, version: str, config: dict, files: dict[str, WeightFile]) -> dict:
    """The config with what the file itself says where releases of one version differ.

    LTX-2.5's keyframe embedding exists only from 2.5.1 on (diffusers' conversion script says so;
    ComfyUI and SimpleTuner look for the tensor): the transformer gets it when its file has it."""
    if component != "transformer" or version != "2.5":
        return config
    present = any(KEYFRAME_KEY in files[r].keys for r in ("dit", "checkpoint") if r in files)
    return {**config, "use_keyframes_abs_pos_embedding": present}


def _open_one(component: str, version: str, config: dict, files: dict[str, WeightFile], dtype) -> ComponentWeights:
    what = f"LTX-{version} {DESCRIPTION[component]}"
    config = _file_decides(component, version, config, files)
    namer = key_namer(component, config)
    searched = [files[r] for r in component_roles(component) if r in files]

    def locate(dkey: str):
        return _find(component, namer(dkey), files)

    return locate_tensors(what, build_component(component, version, config, dtype), locate, searched,
                          lambda file, key: _owned(component, file.role, key), dtype,
                          hint=_hint(component, searched), original=namer)


def build_component(component: str, version: str, config: dict, dtype) -> torch.nn.Module:
    """The empty module, built with `dtype` as torch's default, as diffusers' and transformers'
    own loading build it: the buffers a class makes itself come out as theirs do."""
    with default_dtype(dtype):
        return build_empty(component, version, config)


def locate_tensors(what: str, module, locate, searched: list[WeightFile], owned, dtype, *, hint: str = "",
                   original=lambda key: key) -> ComponentWeights:
    """Every tensor of `module` located by `locate(key) -> (file, file key) | None`, checked
    against the files before any is read: one ModelFileError for a missing tensor, a tensor of
    another shape, or a tensor of the component (`owned(file, key)`) the module does not have."""
    expected = module.state_dict()
    places, missing, used, floating = {}, [], {}, {}
    for dkey, target in expected.items():
        found = locate(dkey)
        if found is None:
            missing.append((dkey, original(dkey)))
            continue
        file, key = found
        used.setdefault(id(file), set()).add(key)
        shape = file.shape(key)
        if shape != tuple(target.shape):
            raise ModelFileError(
                f"{what}: {file.path} has {key} with shape {list(shape)}, the config needs "
                f"{list(target.shape)}: the file is of another LTX-2 version or size than its config")
        places[dkey] = (file, key)
        floating[dkey] = target.is_floating_point()
    if missing:
        dkey, name = missing[0]
        if len(missing) == len(expected):
            raise ModelFileError(
                f"{what}: not in {' or '.join(str(f.path) for f in searched)} (looked for keys like "
                f"'{name}'; the file holds {'; '.join(f.summary() for f in searched)}){hint}")
        raise ModelFileError(
            f"{what}: {' / '.join(str(f.path) for f in searched)} lacks {len(missing)} of its "
            f"{len(expected)} tensors, e.g. '{name}'{hint or ': a file of another LTX-2 version?'}")
    for file in searched:
        extra = sorted(k for k in file.keys - used.get(id(file), set()) if owned(file, k))
        if extra:
            raise ModelFileError(
                f"{what}: {file.path} holds {len(extra)} tensors its config does not have, "
                f"e.g. '{extra[0]}'{hint or ': a file of another LTX-2 version?'}")

    def read(file: WeightFile, key: str, is_float: bool):
        return _read(file, key, what, dtype, is_float)

    return ComponentWeights(what, module, places, read, floating)


def _hint(component: str, files: list[WeightFile]) -> str:
    """What a video-VAE file that does not fit really is: LTX-2.5's diffusion-decoder VAE keeps the
    conv encoder, so only its decoder differs; ComfyUI tells it by this one decoder key."""
    if component == "vae" and any(k == DIFFUSION_DECODER_KEY or k.endswith("." + DIFFUSION_DECODER_KEY)
                                  for f in files for k in f.keys):
        return f"; {DIFFUSION_DECODER_HINT}"
    return ""


def _find(component: str, original: str, files: dict[str, WeightFile]):
    for role in (split_role(component, original), "checkpoint") + (
            ("dit",) if component == "connectors" else ()):
        file = files.get(role)
        if file is None:
            continue
        for key in spellings(role, original):
            if key in file.keys:
                return file, key
    return None


def _read(file: WeightFile, key: str, what: str, dtype, floating: bool):
    tensor = file.tensor(key)
    if floating and not tensor.is_floating_point():
        # int8 and other integer-quantized layers (e.g. ComfyUI's int8 "convrot" files)
        raise ModelFileError(f"{what}: {file.path}: {key} is stored as {tensor.dtype} (a quantized file), "
                             "which this trainer cannot read; use the bf16 or fp8 file instead")
    if tensor.dtype in fp8.FP8_DTYPES:
        stem = key[: -len(".weight")] if key.endswith(".weight") else key
        reason = fp8.refuse_unsupported(key, file.tensor(stem + ".comfy_quant")
                                        if stem + ".comfy_quant" in file.keys else None)
        if reason:
            raise ModelFileError(f"{what}: {file.path}: {reason}, which this trainer cannot read; "
                                 "use the bf16 or fp8 file instead")
        scale_key = fp8.scale_key_for(key, file.keys)
        if scale_key:
            problem = fp8.scale_problem(tuple(tensor.shape), file.shape(scale_key))
            if problem:
                raise ModelFileError(f"{what}: {file.path}: the fp8 scale {scale_key}: {problem}; this trainer "
                                     "applies per-tensor and per-channel scales only: use the bf16 file instead")
        return fp8.upcast(tensor, file.tensor(scale_key) if scale_key else None, dtype or torch.bfloat16)
    if dtype is not None and tensor.is_floating_point():
        return tensor.to(dtype)
    return tensor

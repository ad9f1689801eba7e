"""The key namings of LTX-2 LoRA files, and the trainers that write them.

Every naming names one adapter tensor as `<layer name><suffix>`. Layers are read into
diffusers' names ("transformer.<path>", "connectors.<path>", modules.py); the suffix gives the
tensor's role. What each trainer writes (read in their code, for facts):

- **ComfyUI / Lightricks** (`comfyui`): `diffusion_model.<layer in the original checkpoint's
  names>` + `.lora_A.weight` / `.lora_B.weight`, no alpha (loaders apply scale 1). Lightricks'
  ltx-trainer (packages/ltx-trainer, `_save_checkpoint`) writes exactly this from peft's state
  dict: its `lora.alpha` is not stored, so ComfyUI and diffusers apply scale 1 whatever alpha it
  trained with; its metadata holds only strategy values (`reference_downscale_factor`). Lightricks'
  own LoRAs (the distilled LoRA) and ltx-core's loader use the same names. This trainer adds DoRA
  `.lora_magnitude_vector` plus ComfyUI's `.dora_scale`, LoKr `.lokr_w1`/`.lokr_w2` (and
  `_a`/`_b` factors), and writes text-connector layers once per program
  (extensions_built_in/diffusion_models/ltx2/lora_format/lora_keys.py: `text_embedding_projection.*` for diffusers, `text_encoders.*` and
  `lora_unet_{video,audio}_embeddings_connector_*` for ComfyUI).
- **ai-toolkit** (ostris/ai-toolkit, `LTX2Model.convert_lora_weights_before_save`, peft
  format of `toolkit/network_mixins.py`): the ComfyUI naming with alpha = rank (not stored),
  DoRA magnitude as `.magnitude` (peft's meaning: the norm of each adapted weight row) and LoKr
  factors with an `.alpha` tensor (LyCORIS scale: alpha / the rank of the decomposed factor,
  1 when both factors are full). Only the transformer is trained. Metadata: `software`
  ({"name": "ai-toolkit", ...}), `training_info`, `ss_base_model_version` = "ltx2" for every
  release.
- **diffusers** (`diffusers`): peft's own keys, `transformer.<path>.lora_A.weight` and
  `connectors.<path>...`, DoRA `.lora_magnitude_vector`, LoKr `.lokr_w1`...; optional metadata
  `lora_adapter_metadata` (JSON: `transformer.r`, `transformer.lora_alpha`, ...).
- **musubi-tuner** (`musubi`, kohya-ss/musubi-tuner's LTX-2 fork AkaneTendo25/musubi-tuner,
  `networks/lora.py`, `ltx_2/convert_lora_to_comfy.py`): kohya keys
  `lora_unet_model_<original path with dots as underscores>` + `.lora_down.weight` /
  `.lora_up.weight` / `.alpha` (scale alpha / rank), DoRA `.lora_magnitude_vector.weight`
  (peft's meaning), LoKr `.lokr_w1`... + `.alpha` (LyCORIS scale); the video text connector as
  `lora_unet_embeddings_connector_transformer_1d_blocks_N_...`, the audio one as
  `lora_unet_audio_embeddings_connector_...`. Metadata: `ss_ltx_version` ("2.0" or "2.3"),
  `modelspec.architecture` "LTX2/lora", `ss_network_dim`, `ss_network_alpha`.
- **kohya** (read only): `lora_unet_<original path with underscores>` without musubi's
  `model_`, a form ComfyUI accepts for every diffusion-model layer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from extensions_built_in.diffusion_models.ltx2.lora_format.lora_keys import COMFYUI as COMFYUI_READER
from extensions_built_in.diffusion_models.ltx2.lora_format.lora_keys import DIFFUSERS as DIFFUSERS_READER
from extensions_built_in.diffusion_models.ltx2.lora_format.lora_keys import comfy_file_keys, to_comfy_key
from extensions_built_in.diffusion_models.ltx2.lora_format.modules import (
    BLOCK_LINEARS,
    CONNECTOR_BLOCK_LINEARS,
    CONNECTORS,
    TOP_LEVEL_LINEARS,
    TRANSFORMER,
    is_lora_module,
    split_module,
)
from extensions_built_in.diffusion_models.ltx2.weights.keys_dit import DIT_PREFIX, transformer_key

COMFYUI, DIFFUSERS, MUSUBI, KOHYA = "comfyui", "diffusers", "musubi", "kohya"
WRITABLE = (COMFYUI, DIFFUSERS, MUSUBI)
NAMING_LABELS = {
    COMFYUI: "ComfyUI / Lightricks (diffusion_model. + the original checkpoint's layer names)",
    DIFFUSERS: "diffusers (transformer. / connectors. + diffusers layer names)",
    MUSUBI: "musubi-tuner (lora_unet_model_ + layer names with underscores, lora_down/lora_up/alpha)",
    KOHYA: "kohya (lora_unet_ + layer names with underscores)",
}

# Tensor roles.
LORA_A, LORA_B, ALPHA, MAGNITUDE, DORA_SCALE = "lora_A", "lora_B", "alpha", "magnitude", "dora_scale"
LOKR_ROLES = ("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2")

# Key suffix -> role, for every naming (longest first where one ends another).
_SUFFIX_ROLES = (
    (".lora_A.weight", LORA_A), (".lora_B.weight", LORA_B), (".lora_down.weight", LORA_A),
    (".lora_up.weight", LORA_B), (".lora_magnitude_vector.weight", MAGNITUDE),
    (".lora_magnitude_vector", MAGNITUDE), (".magnitude", MAGNITUDE), (".dora_scale", DORA_SCALE),
    (".alpha", ALPHA),
) + tuple((f".{role}", role) for role in LOKR_ROLES)

# Where a key came from: the form a program reads it in.
PLACE_DIFFUSERS = "diffusers"          # transformer. / connectors.
PLACE_COMFYUI = "comfyui"              # diffusion_model.
PLACE_DIFFUSERS_COPY = "diffusers copy"  # text_embedding_projection. (diffusers' connector names)
PLACE_COMFYUI_TE = "comfyui text encoder"  # text_encoders.
PLACE_KOHYA = "kohya"                  # lora_unet_ (ComfyUI's kohya form)
PLACE_MUSUBI = "musubi"                # lora_unet_model_ / lora_unet_embeddings_connector_


@dataclass(frozen=True)
class KeyName:
    """One file key read: the layer (diffusers name), the tensor's role, the key's form."""

    module: str
    role: str
    place: str


def split_suffix(key: str) -> tuple[str, str] | None:
    """(the key without its adapter suffix, the tensor's role), or None."""
    for suffix, role in _SUFFIX_ROLES:
        if key.endswith(suffix):
            return key[: -len(suffix)], role
    return None


# The transformer's top-level layers in the original checkpoint's names -> diffusers names
# (block layers have the same names on both sides).
_ORIGINAL_TOP_LEVEL = {transformer_key(f"{name}.weight").removeprefix(DIT_PREFIX).removesuffix(".weight"): name
                       for name in TOP_LEVEL_LINEARS}
_DIFFUSERS_TOP_LEVEL = {v: k for k, v in _ORIGINAL_TOP_LEVEL.items()}
_UNDERSCORED_TOP_LEVEL = {orig.replace(".", "_"): name for orig, name in _ORIGINAL_TOP_LEVEL.items()}
_UNDERSCORED_BLOCK = {tail.replace(".", "_"): tail for tail in BLOCK_LINEARS}
_UNDERSCORED_CONNECTOR = {tail.replace(".", "_"): tail for tail in CONNECTOR_BLOCK_LINEARS}
_UNDERSCORED_BLOCK_RE = re.compile(r"transformer_blocks_(\d+)_(.+)$")
_UNDERSCORED_CONNECTOR_RE = re.compile(r"transformer_1d_blocks_(\d+)_(.+)$")
_ORIGINAL_CONNECTOR_RE = re.compile(r"(video|audio)_embeddings_connector\.transformer_1d_blocks\.(\d+)\.(.+)$")
_PROJECTION_NAMES = {"aggregate_embed": "text_proj_in", "video_aggregate_embed": "video_text_proj_in",
                     "audio_aggregate_embed": "audio_text_proj_in"}


def _original_transformer(path: str) -> str | None:
    if path in _ORIGINAL_TOP_LEVEL:
        return f"{TRANSFORMER}.{_ORIGINAL_TOP_LEVEL[path]}"
    return f"{TRANSFORMER}.{path}" if path.startswith("transformer_blocks.") else None


def _underscored_transformer(rest: str) -> str | None:
    match = _UNDERSCORED_BLOCK_RE.match(rest)
    if match and match.group(2) in _UNDERSCORED_BLOCK:
        return f"{TRANSFORMER}.transformer_blocks.{match.group(1)}.{_UNDERSCORED_BLOCK[match.group(2)]}"
    name = _UNDERSCORED_TOP_LEVEL.get(rest)
    return f"{TRANSFORMER}.{name}" if name else None


def _underscored_connector(modality: str, rest: str) -> str | None:
    match = _UNDERSCORED_CONNECTOR_RE.match(rest)
    if match and match.group(2) in _UNDERSCORED_CONNECTOR:
        return f"{CONNECTORS}.{modality}_connector.transformer_blocks.{match.group(1)}.{_UNDERSCORED_CONNECTOR[match.group(2)]}"
    return None


def _original_connector(path: str) -> str | None:
    """`{video,audio}_embeddings_connector.transformer_1d_blocks.N.<layer>` -> connectors layer."""
    match = _ORIGINAL_CONNECTOR_RE.match(path)
    if match and match.group(3) in CONNECTOR_BLOCK_LINEARS:
        modality, block, tail = match.groups()
        return f"{CONNECTORS}.{modality}_connector.transformer_blocks.{block}.{tail}"
    return None


def _module_and_place(stem: str) -> tuple[str | None, str]:
    if stem.startswith((f"{TRANSFORMER}.", f"{CONNECTORS}.")):
        return stem, PLACE_DIFFUSERS
    if stem.startswith("diffusion_model."):
        path = stem.removeprefix("diffusion_model.")
        return (_original_connector(path) or _original_transformer(path)), PLACE_COMFYUI
    if stem.startswith("text_embedding_projection."):
        path = stem.removeprefix("text_embedding_projection.")
        if path in _PROJECTION_NAMES:
            return f"{CONNECTORS}.{_PROJECTION_NAMES[path]}", PLACE_DIFFUSERS_COPY
        return f"{CONNECTORS}.{path}", PLACE_DIFFUSERS_COPY
    if stem.startswith("text_encoders."):
        path = stem.removeprefix("text_encoders.")
        if path == "text_embedding_projection":  # 2.0: the projection is that Linear itself
            return f"{CONNECTORS}.text_proj_in", PLACE_COMFYUI_TE
        projection = path.removeprefix("text_embedding_projection.")
        if projection in _PROJECTION_NAMES and projection != "aggregate_embed":
            return f"{CONNECTORS}.{_PROJECTION_NAMES[projection]}", PLACE_COMFYUI_TE
        return _original_connector(path), PLACE_COMFYUI_TE
    if stem.startswith("lora_unet_"):
        rest = stem.removeprefix("lora_unet_")
        if rest.startswith("model_"):
            return _underscored_transformer(rest.removeprefix("model_")), PLACE_MUSUBI
        if rest.startswith("embeddings_connector_"):  # musubi's name for the video connector
            return _underscored_connector("video", rest.removeprefix("embeddings_connector_")), PLACE_MUSUBI
        for modality in ("video", "audio"):
            if rest.startswith(f"{modality}_embeddings_connector_"):
                return _underscored_connector(modality, rest.removeprefix(f"{modality}_embeddings_connector_")), PLACE_KOHYA
        return _underscored_transformer(rest), PLACE_KOHYA
    return None, ""


def parse_key(key: str) -> KeyName | None:
    """The layer and role of one LoRA file key, or None when it names no LTX-2 adapter tensor."""
    split = split_suffix(key)
    if split is None:
        return None
    stem, role = split
    module, place = _module_and_place(stem)
    if module is None or not is_lora_module(module):
        return None
    return KeyName(module, role, place)


def naming_of(names: list[KeyName]) -> str:
    """The naming of a file from its keys' forms: its transformer layers decide (a ComfyUI
    file also holds connector copies in other forms)."""
    places = {n.place for n in names if split_module(n.module)[0] == TRANSFORMER} or {n.place for n in names}
    if PLACE_MUSUBI in places:
        return MUSUBI
    if PLACE_DIFFUSERS in places and PLACE_COMFYUI not in places:
        return DIFFUSERS
    if PLACE_COMFYUI in places or PLACE_DIFFUSERS_COPY in places or PLACE_COMFYUI_TE in places:
        return COMFYUI
    return KOHYA


# ---------------------------------------------------------------------------- producers
THIS_TRAINER, AI_TOOLKIT, MUSUBI_TUNER, LIGHTRICKS, UNKNOWN = (
    "this trainer", "ai-toolkit", "musubi-tuner", "ltx-trainer / Lightricks (or another ComfyUI-style writer)",
    "unknown")


def producer_of(metadata: dict[str, str], naming: str, names: list[KeyName]) -> str:
    """Which trainer wrote a file: from its metadata, else from the idioms of its keys."""
    if any(k.startswith("ltx2_trainer.") for k in metadata):
        return THIS_TRAINER
    if _software_name(metadata.get("software", "")) == "ai-toolkit" or metadata.get("ss_base_model_version") == "ltx2":
        return AI_TOOLKIT
    if "ss_ltx_version" in metadata or metadata.get("modelspec.architecture", "").startswith("LTX2") or naming == MUSUBI:
        return MUSUBI_TUNER
    if naming == COMFYUI:
        stems = {n.role for n in names}
        if ALPHA in stems and any(r.startswith("lokr_") for r in stems):
            return AI_TOOLKIT  # LoKr with alpha under diffusion_model.
        return LIGHTRICKS
    return UNKNOWN


def _software_name(value: str) -> str:
    try:
        parsed = json.loads(value) if value else {}
    except ValueError:
        return ""
    return str(parsed.get("name", "")) if isinstance(parsed, dict) else ""


def metadata_version(metadata: dict[str, str]) -> tuple[str, str] | None:
    """(version, the metadata key that says it) when the file records its LTX-2 version."""
    for key in ("ltx2_trainer.model_version", "ss_ltx_version"):
        value = metadata.get(key, "").strip()
        if value:
            return value, key
    return None


# ---------------------------------------------------------------------------- writing
_DIFFUSERS_SUFFIX = {LORA_A: ".lora_A.weight", LORA_B: ".lora_B.weight", MAGNITUDE: ".lora_magnitude_vector",
                     **{role: f".{role}" for role in LOKR_ROLES}}
_MUSUBI_SUFFIX = {LORA_A: ".lora_down.weight", LORA_B: ".lora_up.weight", ALPHA: ".alpha",
                  MAGNITUDE: ".lora_magnitude_vector.weight", **{role: f".{role}" for role in LOKR_ROLES}}


class NotNameable(ValueError):
    """A layer the target naming has no name for."""


def key_names(naming: str, module: str, role: str, version: str = "") -> list[str]:
    """The keys a file in `naming` stores one tensor of `module` under ([] when that naming
    does not store the role). `version` "2.0": ComfyUI also runs the connectors in its text
    encoder, which gets its own copy (extensions_built_in/diffusion_models/ltx2/lora_format/lora_keys.py)."""
    if naming == DIFFUSERS:
        return [module + _DIFFUSERS_SUFFIX[role]] if role in _DIFFUSERS_SUFFIX else []
    if naming == COMFYUI:
        if role == ALPHA:
            return []
        if role == DORA_SCALE or role == MAGNITUDE:
            wanted = COMFYUI_READER if role == DORA_SCALE else DIFFUSERS_READER
            peft_key = f"{module}.lora_magnitude_vector"
            if split_module(module)[0] == TRANSFORMER:
                key = to_comfy_key(peft_key)
                return [key.removesuffix("lora_magnitude_vector") + "dora_scale" if role == DORA_SCALE else key]
            names = comfy_file_keys(peft_key, version == "2.0")
            return [k.removesuffix("lora_magnitude_vector") + ("dora_scale" if role == DORA_SCALE else "lora_magnitude_vector")
                    for k, readers in names if wanted in readers]
        peft_key = module + _DIFFUSERS_SUFFIX[role]
        if split_module(module)[0] == TRANSFORMER:
            return [to_comfy_key(peft_key)]
        return [k for k, _ in comfy_file_keys(peft_key, version == "2.0")]
    if naming == MUSUBI:
        if role not in _MUSUBI_SUFFIX:
            return []
        return [_musubi_stem(module) + _MUSUBI_SUFFIX[role]]
    raise ValueError(f"no writer for naming {naming!r}")


def _musubi_stem(module: str) -> str:
    root, path = split_module(module)
    if root == TRANSFORMER:
        original = _DIFFUSERS_TOP_LEVEL.get(path, path)
        return "lora_unet_model_" + original.replace(".", "_")
    if path.startswith(("video_connector.", "audio_connector.")):
        stack, _, rest = path.partition(".")
        head = "embeddings_connector" if stack == "video_connector" else "audio_embeddings_connector"
        rest = rest.replace("transformer_blocks.", "transformer_1d_blocks.", 1)
        return f"lora_unet_{head}_" + rest.replace(".", "_")
    raise NotNameable(f"musubi-tuner has no name for the text projection {path} (its LoRAs hold the connector "
                      "blocks only): convert to comfyui or diffusers instead")

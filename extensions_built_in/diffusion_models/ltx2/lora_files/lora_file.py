"""Reading any LTX-2 LoRA file into one form, and writing that form in a chosen naming.

A file is read key by key (extensions_built_in/diffusion_models/ltx2/lora_format/namings.py
says which layer and role each key is); the tensors of a layer become one `ModuleAdapter`
whose scale (an `.alpha` tensor, or diffusers' `lora_adapter_metadata`) is folded into one
factor, so every adapter reads as loaders apply it at strength 1. A file is an LTX-2 LoRA
when it holds adapter tensors of LTX-2 layers; anything else is refused with one line
(`NotAnLtx2Lora`, exit 2). Writes go through toolkit/atomic.py and never replace an input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from extensions_built_in.diffusion_models.ltx2.lora_files.adapter import DORA, AdapterError, ModuleAdapter, kind_of
from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import (
    ALL_VERSIONS,
    ALPHA,
    DIFFUSERS,
    DORA_SCALE,
    LORA_B,
    MAGNITUDE,
    MUSUBI,
    PLACE_COMFYUI,
    PLACE_COMFYUI_TE,
    PLACE_DIFFUSERS,
    PLACE_DIFFUSERS_COPY,
    PLACE_KOHYA,
    PLACE_MUSUBI,
    VIDEO,
    KeyName,
    family_of,
    implied_versions,
    key_names,
    metadata_version,
    naming_of,
    parse_key,
    producer_of,
    split_module,
)
from toolkit.atomic import atomic_save_tensors
from toolkit.errors import UserInputError

_ADAPTER_MARKS = ("lora_A", "lora_B", "lora_down", "lora_up", "lokr_", "hada_", "oft_", "dora_scale")
# Which copy of a tensor stored several times is read (all copies hold the same values).
_PLACE_ORDER = (PLACE_DIFFUSERS, PLACE_COMFYUI, PLACE_MUSUBI, PLACE_DIFFUSERS_COPY, PLACE_COMFYUI_TE, PLACE_KOHYA)
SOURCE_PRODUCER_KEY = "ltx2_lora_tools.source_producer"
TOOL_NOTE_KEY = "ltx2_lora_tools.made_by"


class NotAnLtx2Lora(UserInputError):
    """The file is not a LoRA of LTX-2 (missing, not safetensors, not adapter weights, another model)."""

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        super().__init__(f"{path}: not an LTX-2 LoRA: {reason}")


@dataclass
class LoraFile:
    path: Path
    metadata: dict[str, str]
    naming: str
    producer: str
    modules: dict[str, ModuleAdapter]
    keys: dict[str, list[str]]  # layer -> every key of the file that belongs to it
    alphas: dict[str, float] = field(default_factory=dict)  # layer -> alpha stored in the file
    scales: dict[str, float] = field(default_factory=dict)  # layer -> scale folded in on reading
    unknown_keys: list[str] = field(default_factory=list)
    versions: tuple[str, ...] = ALL_VERSIONS
    version_reason: str = ""
    copies_differ: list[str] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return sorted({a.kind for a in self.modules.values()})

    @property
    def kind(self) -> str:
        kinds = self.kinds
        return kinds[0] if len(kinds) == 1 else "mixed (" + ", ".join(kinds) + ")"

    @property
    def version(self) -> str:
        """The one LTX-2 version the file is for ('' when it fits several or none)."""
        return self.versions[0] if len(self.versions) == 1 else ""

    @property
    def version_text(self) -> str:
        if not self.versions:
            return "none (its layers fit no single LTX-2 release)"
        return " or ".join(f"LTX-{v}" for v in self.versions)

    def require_understood(self, action: str) -> None:
        """Refuse to rewrite a file with keys we cannot place: they would be lost."""
        if self.unknown_keys:
            raise UserInputError(f"{self.path}: {action} would drop {len(self.unknown_keys)} keys this tool does not "
                                 f"understand (e.g. {', '.join(self.unknown_keys[:3])}); nothing was written")


def _open(path: Path):
    if not path.exists():
        raise NotAnLtx2Lora(path, "the file does not exist")
    if not path.is_file():
        raise NotAnLtx2Lora(path, "it is a folder, not a .safetensors file")
    try:
        return safe_open(str(path), framework="pt")
    except (OSError, SafetensorError) as exc:
        raise NotAnLtx2Lora(path, f"it is not a readable .safetensors file ({exc})") from exc


def read_lora(path: str | Path) -> LoraFile:
    """Read an LTX-2 LoRA file of any naming; NotAnLtx2Lora (exit 2) for anything else. The
    keys are judged before any tensor is read, so a multi-gigabyte model file is refused at once."""
    path = Path(path).expanduser()
    with _open(path) as handle:
        metadata = dict(handle.metadata() or {})
        all_keys = sorted(handle.keys())
        if not all_keys:
            raise NotAnLtx2Lora(path, "it holds no tensors")
        names = {key: name for key in all_keys if (name := parse_key(key)) is not None}
        unknown = [key for key in all_keys if key not in names]
        adapter_like = [k for k in unknown if any(mark in k for mark in _ADAPTER_MARKS)]
        if len(adapter_like) > len(names):  # a few names (proj_out) are shared with other models
            raise NotAnLtx2Lora(path, f"{len(adapter_like)} of its {len(adapter_like) + len(names)} adapter tensors "
                                      f"belong to no LTX-2 layer (e.g. '{adapter_like[0]}'): a LoRA for another model")
        if not names:
            raise NotAnLtx2Lora(path, f"it holds no LoRA or LoKr tensors ({len(all_keys)} tensors, e.g. "
                                      f"'{unknown[0]}'): a model or other weights file")
        tensors = {key: handle.get_tensor(key) for key in names}
    naming = naming_of(list(names.values()))
    lora = LoraFile(path=path, metadata=metadata, naming=naming,
                    producer=_producer(metadata, naming, list(names.values())), modules={}, keys={},
                    unknown_keys=unknown)
    _build_modules(lora, tensors, names)
    _refuse_ltx_video_1(lora)
    _set_versions(lora)
    return lora


# LTX-Video 1.x (the video-only predecessor) names its layers as LTX-2's video layers, but its
# transformer is 2048 wide where every LTX-2 release is 4096 (extensions_built_in/diffusion_models/ltx2/real_configs.py).
_LTXV1_WIDTH = 2048
_VIDEO_SELF_ATTENTION = re.compile(r"transformer\.transformer_blocks\.\d+\.attn1\.to_[qkv]$")


def _refuse_ltx_video_1(lora: LoraFile) -> None:
    widths = {a.shape[1] for m, a in lora.modules.items() if _VIDEO_SELF_ATTENTION.match(m)}
    audio = any(family_of(m).writes != frozenset({VIDEO}) for m in lora.modules)
    if widths == {_LTXV1_WIDTH} and not audio and metadata_version(lora.metadata) is None:
        raise NotAnLtx2Lora(lora.path, f"its video self-attention is {_LTXV1_WIDTH} wide and it has no audio layers: "
                                       "a LoRA for LTX-Video 1.x (LTX-2's video layers are 4096 wide)")


def _producer(metadata: dict[str, str], naming: str, names: list[KeyName]) -> str:
    source = metadata.get(SOURCE_PRODUCER_KEY)
    return f"{source} (rewritten by lora_tools)" if source else producer_of(metadata, naming, names)


def _build_modules(lora: LoraFile, tensors: dict[str, torch.Tensor], names: dict[str, KeyName]) -> None:
    by_module: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for key, name in names.items():
        by_module.setdefault(name.module, {}).setdefault(name.role, []).append((name.place, key))
        lora.keys.setdefault(name.module, []).append(key)
    metadata_scales = _diffusers_metadata_scales(lora.metadata) if lora.naming == DIFFUSERS else None
    for module, roles in sorted(by_module.items()):
        chosen = {}
        for role, entries in roles.items():
            entries.sort(key=lambda e: _PLACE_ORDER.index(e[0]))
            chosen[role] = tensors[entries[0][1]]
            if any(not torch.equal(tensors[k], chosen[role]) for _, k in entries[1:]):
                lora.copies_differ.append(module)
        alpha = chosen.pop(ALPHA, None)
        try:
            adapter = ModuleAdapter(kind_of(set(chosen)), chosen)
            adapter.check()
        except AdapterError as exc:
            raise UserInputError(f"{lora.path}: layer {module} ({', '.join(sorted(lora.keys[module])[:2])}...): "
                                 f"{exc}") from exc
        scale = _scale(module, adapter, alpha, metadata_scales)
        if alpha is not None:
            lora.alphas[module] = float(alpha.float().reshape(-1)[0])
        lora.scales[module] = scale
        if scale != 1.0:
            adapter = _fold_dora(adapter, scale) if adapter.kind == DORA else adapter.scaled(scale)
        lora.modules[module] = adapter


def _fold_dora(adapter: ModuleAdapter, scale: float) -> ModuleAdapter:
    """A DoRA's scale multiplies its low-rank update only (the magnitude stays)."""
    tensors = dict(adapter.tensors)
    tensors[LORA_B] = (tensors[LORA_B].float() * scale).to(tensors[LORA_B].dtype)
    return ModuleAdapter(adapter.kind, tensors)


def _scale(module: str, adapter: ModuleAdapter, alpha: torch.Tensor | None, metadata_scales) -> float:
    """The factor loaders multiply ΔW by: LoRA alpha / rank; LoKr (LyCORIS, as ComfyUI reads
    it) alpha / the rank of the decomposed factor, 1 when both factors are full; without an
    alpha, diffusers' adapter metadata or 1."""
    if alpha is not None:
        value = float(alpha.float().reshape(-1)[0])
        rank = adapter.rank
        return value / rank if rank else 1.0
    if metadata_scales is not None:
        return metadata_scales(module, adapter.rank)
    return 1.0


def _diffusers_metadata_scales(metadata: dict[str, str]):
    """diffusers' `lora_adapter_metadata` (peft config per prefix): scale = lora_alpha / r, with
    rank_pattern / alpha_pattern entries matched on the end of the layer's name."""
    try:
        config = json.loads(metadata.get("lora_adapter_metadata", "") or "{}")
    except ValueError:
        return None
    if not isinstance(config, dict) or not config:
        return None

    def matching(patterns: dict, path: str):
        for pattern, value in (patterns or {}).items():
            if re.fullmatch(rf"(.*\.)?{pattern}", path):
                return value
        return None

    def scale(module: str, rank: int | None) -> float:
        root, path = split_module(module)
        r, alpha = config.get(f"{root}.r"), config.get(f"{root}.lora_alpha", config.get(f"{root}.alpha"))
        if r is None or alpha is None:
            return 1.0
        r = matching(config.get(f"{root}.rank_pattern"), path) or r
        alpha = matching(config.get(f"{root}.alpha_pattern"), path) or alpha
        return float(alpha) / float(r)

    return scale


def _set_versions(lora: LoraFile) -> None:
    implied, why = implied_versions({m: a.shape for m, a in lora.modules.items()})
    recorded = metadata_version(lora.metadata)
    if recorded is None:
        lora.versions, lora.version_reason = implied, f"inferred from its layers: {why}"
        return
    version, key = recorded
    version = version.removeprefix("LTX-").removeprefix("ltx")
    if version not in ALL_VERSIONS:
        lora.versions, lora.version_reason = implied, f"metadata {key}={version!r} is no LTX-2 release; inferred: {why}"
    elif version not in implied:
        lora.versions = (version,)
        lora.version_reason = f"metadata {key}, although its layers say otherwise ({why})"
    else:
        lora.versions, lora.version_reason = (version,), f"metadata {key}"


# ---------------------------------------------------------------------------- writing
class NeedsBase(UserInputError):
    """A DoRA tensor that has to be computed from the base model's weights."""


def file_state(naming: str, modules: dict[str, ModuleAdapter], version: str) -> dict[str, torch.Tensor]:
    """The tensors of a file in `naming` (scales folded: no alpha, except musubi's alpha = rank
    that gives scale 1)."""
    state: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for module, adapter in sorted(modules.items()):
        roles = dict(adapter.tensors)
        if adapter.kind == DORA:
            _check_dora_roles(naming, module, roles)
            if naming != "comfyui":
                roles.pop(DORA_SCALE, None)
        if naming == MUSUBI:
            rank = adapter.rank
            roles[ALPHA] = torch.tensor(float(rank if rank else 1), dtype=torch.float32)
        for role, tensor in roles.items():
            for key in key_names(naming, module, role, version):
                if tensor.untyped_storage().data_ptr() in seen:
                    tensor = tensor.clone()  # safetensors refuses two names for one storage
                seen.add(tensor.untyped_storage().data_ptr())
                state[key] = tensor.contiguous()
    return state


def needs_base(module: str, what: str) -> NeedsBase:
    return NeedsBase(f"layer {module}: the output needs {what}, which is computed from the base model's weight: "
                     "pass --base MODEL (a diffusers model folder or the original .safetensors file)")


def _check_dora_roles(naming: str, module: str, roles: dict) -> None:
    """A last guard: the tools complete DoRA tensors first (base_weights.complete_dora)."""
    if MAGNITUDE not in roles:
        raise needs_base(module, "DoRA's magnitude (lora_magnitude_vector)")
    if naming == "comfyui" and DORA_SCALE not in roles:
        raise needs_base(module, "ComfyUI's dora_scale")


def output_metadata(sources: list[LoraFile], naming: str, modules: dict[str, ModuleAdapter], version: str,
                    note: str) -> dict[str, str]:
    """The metadata of a written file: the first source's training metadata, less what the
    rewrite made stale (hashes, adapter configs, alpha), plus what the tool did."""
    first = sources[0] if sources else None
    metadata = dict(first.metadata) if first else {}
    for key in list(metadata):
        if key.startswith("sshs_") or key in ("lora_adapter_metadata", "modelspec.hash_sha256"):
            del metadata[key]
    ranks = sorted({a.rank for a in modules.values() if a.rank})
    metadata.update({"format": "pt", "ltx2_trainer.alpha_folded": "true", TOOL_NOTE_KEY: note})
    kinds = sorted({a.kind for a in modules.values()})
    metadata["ltx2_trainer.network_type"] = kinds[0].lower() if len(kinds) == 1 else "mixed"
    if ranks:
        metadata["ltx2_trainer.rank"] = metadata["ss_network_dim"] = str(ranks[-1])
        metadata["ss_network_alpha"] = str(ranks[-1])
    if version:
        metadata["ltx2_trainer.model_version"] = version
    if first and SOURCE_PRODUCER_KEY not in metadata and first.producer != "this trainer":
        metadata[SOURCE_PRODUCER_KEY] = first.producer
    return metadata


def check_output(out: Path, inputs: list[Path], overwrite: bool) -> Path:
    """Refuse an output that is one of the inputs, or (without --overwrite) any existing file."""
    out = Path(out).expanduser()
    if out.suffix != ".safetensors":
        raise UserInputError(f"{out}: the output must be a .safetensors file")
    for source in inputs:
        if out.resolve() == Path(source).resolve() or (out.exists() and out.samefile(source)):
            raise UserInputError(f"{out}: that is the input file; these tools never overwrite their input "
                                 "(choose another output name)")
    if out.exists() and not overwrite:
        raise UserInputError(f"{out} already exists: choose another name, or pass --overwrite to replace it")
    return out


def write_lora(out: Path, naming: str, modules: dict[str, ModuleAdapter], version: str,
               metadata: dict[str, str]) -> Path:
    """Write `modules` in `naming`, atomically (toolkit/atomic.py)."""
    return atomic_save_tensors(out, file_state(naming, modules, version), metadata)


def write_keys(out: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write some of a file's own keys unchanged, atomically (strip-audio and split)."""
    return atomic_save_tensors(out, {k: v.contiguous() for k, v in tensors.items()}, metadata)

"""strip-audio and split: a LoRA file's layers sorted by the stream they write.

Which layers write which stream is LTX-2's structure
(extensions_built_in/diffusion_models/ltx2/lora_format/families.py). Both tools copy the
file's own keys unchanged (same naming, same tensors, same alpha keys and copies), so the
video file and the audio file of `split` hold between them exactly the keys of the original,
and loaded together at strength 1 they are the original. A layer that writes both streams
(the audio<->video cross-attention scale/shift, LTX-2.0's shared text projection) cannot be
given to one side without changing what the other side's strength means: split refuses such a
file unless told where they go (`--shared-to`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import AUDIO, VIDEO, family_of, split_module
from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import (
    TOOL_NOTE_KEY,
    LoraFile,
    check_output,
    write_keys,
)
from toolkit.errors import UserInputError


@dataclass
class Sides:
    video: list[str]
    audio: list[str]
    shared: list[str]

    def families(self, modules: list[str]) -> str:
        return ", ".join(sorted({family_of(m).name for m in modules}))


def sides(lora: LoraFile) -> Sides:
    result = Sides([], [], [])
    for module in sorted(lora.modules):
        side = family_of(module).side
        (result.video if side == VIDEO else result.audio if side == AUDIO else result.shared).append(module)
    return result


def split_refusal(lora: LoraFile) -> str:
    """Why `split` refuses this file without --shared-to ('' when it splits as it is)."""
    parts = sides(lora)
    if lora.unknown_keys:
        return f"it has {len(lora.unknown_keys)} keys this tool does not understand (e.g. {lora.unknown_keys[0]})"
    if not parts.audio:
        return "it has no audio-side layers: the whole file is the video part"
    if not parts.video and not parts.shared:
        return "it has no video-side layers: the whole file is the audio part"
    if parts.shared:
        return (f"{len(parts.shared)} of its layers write both streams ({parts.families(parts.shared)}: e.g. "
                f"{parts.shared[0]}); give --shared-to video or --shared-to audio to put them in one of the files "
                "(the two files still sum to the original)")
    return ""


def _file_tensors(lora: LoraFile, modules: list[str]) -> dict[str, torch.Tensor]:
    keys = sorted(k for m in modules for k in lora.keys[m])
    with safe_open(str(lora.path), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in keys}


def _metadata(lora: LoraFile, modules: list[str], note: str) -> dict[str, str]:
    """The source's metadata, with diffusers' target-module lists cut to the layers kept."""
    metadata = {k: v for k, v in lora.metadata.items() if not k.startswith("sshs_")}
    metadata[TOOL_NOTE_KEY] = note
    adapter_config = metadata.get("lora_adapter_metadata")
    if adapter_config:
        config = json.loads(adapter_config)
        kept = {}
        for module in modules:
            root, path = split_module(module)
            kept.setdefault(root, set()).add(path)
        for key, value in list(config.items()):
            root, _, field = key.partition(".")
            if field == "target_modules" and isinstance(value, list):
                config[key] = [t for t in value if t in kept.get(root, set())]
        metadata["lora_adapter_metadata"] = json.dumps(config, sort_keys=True)
    return metadata


def strip_audio(lora: LoraFile, out: Path, overwrite: bool = False) -> dict:
    """Write `out` without the layers that write only audio; returns what was done."""
    lora.require_understood("strip-audio")
    parts = sides(lora)
    if not parts.audio:
        raise UserInputError(f"{lora.path}: refused: it has no audio-side layers (nothing to strip)")
    kept = parts.video + parts.shared
    if not kept:
        raise UserInputError(f"{lora.path}: refused: every layer of it writes audio; nothing would be left")
    out = check_output(out, [lora.path], overwrite)
    note = f"strip-audio of {lora.path.name}: {len(parts.audio)} audio-side layers removed"
    write_keys(out, _file_tensors(lora, kept), _metadata(lora, kept, note))
    return {"output": str(out), "removed": len(parts.audio), "kept": len(kept),
            "removed_families": parts.families(parts.audio), "shared_kept": len(parts.shared)}


def split(lora: LoraFile, out_dir: Path | None = None, shared_to: str | None = None,
          overwrite: bool = False) -> dict:
    """Write `<name>_video.safetensors` and `<name>_audio.safetensors`; returns what was done."""
    lora.require_understood("split")
    parts = sides(lora)
    if not parts.audio:
        raise UserInputError(f"{lora.path}: refused: it has no audio-side layers: the whole file is the video part")
    if parts.shared and shared_to not in (VIDEO, AUDIO):
        raise UserInputError(f"{lora.path}: refused: {split_refusal(lora)}")
    video, audio = list(parts.video), list(parts.audio)
    (video if shared_to == VIDEO else audio).extend(parts.shared)
    if not video:
        raise UserInputError(f"{lora.path}: refused: it has no video-side layers: the whole file is the audio part")
    folder = Path(out_dir).expanduser() if out_dir else lora.path.parent
    outputs = {}
    for side, modules in ((VIDEO, video), (AUDIO, audio)):
        out = check_output(folder / f"{lora.path.stem}_{side}.safetensors", [lora.path], overwrite)
        outputs[side] = (out, modules)
    for side, (out, modules) in outputs.items():
        note = f"split of {lora.path.name}: the {side} part ({len(modules)} layers)"
        write_keys(out, _file_tensors(lora, modules), _metadata(lora, modules, note))
    return {"video": str(outputs[VIDEO][0]), "audio": str(outputs[AUDIO][0]), "video_layers": len(video),
            "audio_layers": len(audio), "shared_layers": len(parts.shared), "shared_to": shared_to or ""}

"""inspect: what a LoRA file is, as facts (a dict the UI reads as JSON) and as text.

Version, naming, the trainer that wrote it, network type, ranks and alphas per module family,
layers per stream, what strip-audio and split would do, the keys ComfyUI and diffusers will not
load (loaders.py), and the training metadata.
"""

from __future__ import annotations

import json

from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import BY_NAME, FAMILIES, NAMING_LABELS, family_of
from extensions_built_in.diffusion_models.ltx2.lora_files.loaders import comfyui_report, diffusers_report
from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import LoraFile
from extensions_built_in.diffusion_models.ltx2.lora_files.modality import sides, split_refusal

_METADATA_SHOWN = 200  # characters of one metadata value in the text view


def _span(values: list) -> str:
    values = sorted(set(values))
    if not values:
        return "-"
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


def facts(lora: LoraFile) -> dict:
    families = {}
    for module, adapter in lora.modules.items():
        entry = families.setdefault(family_of(module).name, {"layers": 0, "kinds": set(), "ranks": [], "alphas": [],
                                                             "scales": []})
        entry["layers"] += 1
        entry["kinds"].add(adapter.kind)
        entry["ranks"].append(adapter.rank if adapter.rank else "full")
        if module in lora.alphas:
            entry["alphas"].append(lora.alphas[module])
        entry["scales"].append(round(lora.scales.get(module, 1.0), 6))
    ordered = [f.name for f in FAMILIES if f.name in families]
    parts = sides(lora)
    comfy = comfyui_report(lora)
    diffusers = diffusers_report([k for ks in lora.keys.values() for k in ks] + lora.unknown_keys)
    return {
        "file": str(lora.path),
        "size_bytes": lora.path.stat().st_size,
        "tensors": sum(len(k) for k in lora.keys.values()) + len(lora.unknown_keys),
        "version": {"versions": list(lora.versions), "text": lora.version_text, "reason": lora.version_reason},
        "naming": lora.naming,
        "naming_label": NAMING_LABELS[lora.naming],
        "producer": lora.producer,
        "network": lora.kind,
        "layers": len(lora.modules),
        "families": [{"family": name, "label": BY_NAME[name].label, "writes": sorted(BY_NAME[name].writes),
                      "layers": families[name]["layers"], "kinds": sorted(families[name]["kinds"]),
                      "ranks": _span([r for r in families[name]["ranks"] if r != "full"]) if any(
                          r != "full" for r in families[name]["ranks"]) else "full",
                      "alphas": _span(families[name]["alphas"]) if families[name]["alphas"] else "not stored",
                      "scale": _span(families[name]["scales"])} for name in ordered],
        "streams": {"video": len(parts.video), "audio": len(parts.audio), "both": len(parts.shared)},
        "strip_audio": {"removes": len(parts.audio), "keeps": len(parts.video) + len(parts.shared),
                        "removed_families": parts.families(parts.audio) if parts.audio else ""},
        "split": {"possible": not split_refusal(lora), "reason": split_refusal(lora)},
        "comfyui": {"applied": len(comfy.applied), "missed": comfy.missed, "not_loaded": comfy.not_loaded,
                    "text_encoder_part": comfy.text_encoder_part},
        "diffusers": {"refused": diffusers.refused, "loaded": len(diffusers.loaded), "not_loaded": diffusers.dropped},
        "unknown_keys": lora.unknown_keys,
        "copies_differ": lora.copies_differ,
        "metadata": lora.metadata,
    }


_LISTED = 6  # keys shown per reason in the text view (--json has them all)


def _comfy_reason(key: str) -> str:
    if key.startswith("text_embedding_projection."):
        return "diffusers' copy of a text-connector layer (ComfyUI reads its own copy)"
    if key.endswith(".lora_magnitude_vector"):
        return "diffusers' DoRA magnitude (ComfyUI reads dora_scale)"
    if key.endswith(".magnitude"):
        return "a DoRA magnitude under ai-toolkit's name: ComfyUI applies the layer as a plain LoRA"
    return "no layer of ComfyUI's model has this name"


def _grouped(keys_and_reasons: list[tuple[str, str]]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for key, reason in keys_and_reasons:
        groups.setdefault(reason, []).append(key)
    lines = []
    for reason, keys in groups.items():
        lines.append(f"              {len(keys)} x {reason}:")
        lines += [f"                {key}" for key in keys[:_LISTED]]
        if len(keys) > _LISTED:
            lines.append(f"                ... and {len(keys) - _LISTED} more")
    return lines


def _comfy_line(found: dict) -> str:
    comfy = found["comfyui"]
    line = f"applies {comfy['applied']} of {found['layers']} layers"
    if comfy["missed"]:
        line += f"; leaves out {len(comfy['missed'])} (e.g. {comfy['missed'][0]})"
    if comfy["not_loaded"]:
        line += f"; logs 'lora key not loaded' for {len(comfy['not_loaded'])} keys"
    if comfy["text_encoder_part"]:
        line += "; its text_encoders.* part applies only through a LoRA loader that takes the CLIP"
    return line


def _diffusers_line(found: dict) -> str:
    diffusers = found["diffusers"]
    if diffusers["refused"]:
        return diffusers["refused"]
    line = f"LTX2Pipeline.load_lora_weights loads {diffusers['loaded']} tensors"
    if diffusers["not_loaded"]:
        line += f"; does not load {len(diffusers['not_loaded'])} keys"
    return line


def render(found: dict) -> str:
    size = found["size_bytes"] / 2**20
    lines = [
        f"file        {found['file']} ({size:.1f} MiB, {found['tensors']} tensors)",
        f"LTX-2       {found['version']['text']} ({found['version']['reason']})",
        f"naming      {found['naming_label']}",
        f"written by  {found['producer']}",
        f"network     {found['network']}, {found['layers']} layers",
        "",
        f"  {'family':<14}{'layers':>7}  {'type':<11}{'rank':<9}{'alpha':<12}{'scale':<10}writes",
    ]
    for family in found["families"]:
        lines.append(f"  {family['family']:<14}{family['layers']:>7}  {'/'.join(family['kinds']):<11}"
                     f"{family['ranks']:<9}{family['alphas']:<12}{family['scale']:<10}{'+'.join(family['writes'])}")
    streams = found["streams"]
    lines += ["", f"streams     video {streams['video']} layers, audio {streams['audio']}, both {streams['both']}"]
    strip = found["strip_audio"]
    lines.append(f"strip-audio removes {strip['removes']} layers ({strip['removed_families'] or 'none'}), keeps "
                 f"{strip['keeps']}" if strip["removes"] else "strip-audio nothing to remove (no audio-side layers)")
    split = found["split"]
    lines.append("split       possible" if split["possible"] else f"split       refused: {split['reason']}")
    lines += ["", f"ComfyUI     {_comfy_line(found)}"]
    lines += _grouped([(k, _comfy_reason(k)) for k in found["comfyui"]["not_loaded"]])
    lines.append(f"diffusers   {_diffusers_line(found)}")
    if not found["diffusers"]["refused"]:
        lines += _grouped(list(found["diffusers"]["not_loaded"].items()))
    if found["unknown_keys"]:
        lines.append(f"unknown     {len(found['unknown_keys'])} keys no LTX-2 layer owns, e.g. {found['unknown_keys'][0]}")
    if found["copies_differ"]:
        lines.append(f"warning     the copies of {len(found['copies_differ'])} layers hold different values "
                     f"(e.g. {found['copies_differ'][0]}): ComfyUI and diffusers read different updates")
    if found["metadata"]:
        lines += ["", "metadata"]
        for key, value in sorted(found["metadata"].items()):
            shown = value if len(value) <= _METADATA_SHOWN else value[:_METADATA_SHOWN] + f"... ({len(value)} chars)"
            lines.append(f"  {key}: {shown}")
    return "\n".join(lines)


def to_json(found: dict) -> str:
    return json.dumps(found, indent=1, sort_keys=True, default=str)

"""LoRA key names: diffusers module paths <-> the original LTX-2 names ComfyUI uses.

A ComfyUI LTX-2 LoRA key is `diffusion_model.<original module path>.lora_A.weight`. diffusers
renames some modules (`adaln_single` -> `time_embed`, `patchify_proj` -> `proj_in`,
`q_norm` -> `norm_q`, ...). We save in the original names and rely on diffusers' own
converter to read them back, so a test can check that the two directions agree.

Transformer keys have one name both programs read. The text connectors have none: diffusers
reads them only under `text_embedding_projection.` (in its own block names), and ComfyUI
never looks there (extensions_built_in/diffusion_models/ltx2/lora_format/comfy_rules.py has its rules). A ComfyUI-format file
therefore stores each connector tensor once per program, and for 2.0 once more, as ComfyUI
holds two copies of 2.0's connectors (`comfy_file_keys`); each program ignores the other's
copies (ComfyUI with a "lora key not loaded" line per key).
"""

from __future__ import annotations

import re

from extensions_built_in.diffusion_models.ltx2.lora_format.comfy_rules import MODEL, comfy_homes
from extensions_built_in.diffusion_models.ltx2.weights.keys_dit import connectors_key
from toolkit.errors import UserInputError
from toolkit.family.interface import BOTH_READERS, COMFYUI_READER, DIFFUSERS_READER

COMFY_PREFIX = "diffusion_model."

# diffusers segment -> original segment (matched on whole dot-separated segments).
_SEGMENT_TO_ORIGINAL = {
    "proj_in": "patchify_proj",
    "audio_proj_in": "audio_patchify_proj",
    "av_cross_attn_video_scale_shift": "av_ca_video_scale_shift_adaln_single",
    "av_cross_attn_video_a2v_gate": "av_ca_a2v_gate_adaln_single",
    "av_cross_attn_audio_scale_shift": "av_ca_audio_scale_shift_adaln_single",
    "av_cross_attn_audio_v2a_gate": "av_ca_v2a_gate_adaln_single",
    "video_a2v_cross_attn_scale_shift_table": "scale_shift_table_a2v_ca_video",
    "audio_a2v_cross_attn_scale_shift_table": "scale_shift_table_a2v_ca_audio",
    "norm_q": "q_norm",
    "norm_k": "k_norm",
    "audio_prompt_adaln": "audio_prompt_adaln_single",
    "prompt_adaln": "prompt_adaln_single",
}
# Only as the first segment: the top-level timestep embedders.
_FIRST_SEGMENT_TO_ORIGINAL = {"time_embed": "adaln_single", "audio_time_embed": "audio_adaln_single"}


def diffusers_to_original(module_path: str) -> str:
    """`transformer_blocks.0.attn1.norm_q` -> `transformer_blocks.0.attn1.q_norm`."""
    parts = module_path.split(".")
    if parts and parts[0] in _FIRST_SEGMENT_TO_ORIGINAL:
        parts[0] = _FIRST_SEGMENT_TO_ORIGINAL[parts[0]]
    return ".".join(_SEGMENT_TO_ORIGINAL.get(p, p) for p in parts)


CONNECTOR_PREFIX = "text_embedding_projection."
# The connectors' input projections in the original names (2.0: one shared; 2.3+: one per modality).
_CONNECTOR_TO_ORIGINAL = {"text_proj_in": "aggregate_embed", "video_text_proj_in": "video_aggregate_embed",
                          "audio_text_proj_in": "audio_aggregate_embed"}
# Connector blocks as the original checkpoint names them, inside the diffusion model. diffusers'
# LoRA converter does not map these (it would drop them as unexpected transformer keys), so we
# never write them; we read them (files of other trainers) into the connectors ourselves.
ORIGINAL_CONNECTOR_BLOCKS = {
    COMFY_PREFIX + "video_embeddings_connector.": "connectors.video_connector.",
    COMFY_PREFIX + "audio_embeddings_connector.": "connectors.audio_connector.",
}
_ADAPTER_MARKERS = (".lora_A.", ".lora_B.", ".lora_magnitude_vector", ".lokr_", ".hada_")


def _split(key: str) -> tuple[str, str]:
    for marker in _ADAPTER_MARKERS:
        idx = key.find(marker)
        if idx != -1:
            return key[:idx], key[idx:]
    raise ValueError(f"not an adapter parameter key: {key}")


def to_comfy_key(key: str) -> str:
    """`transformer.<module>.lora_A.weight` (or a bare transformer key) -> the ComfyUI key.

    Text-connector keys (`connectors.<module>...`) go under `text_embedding_projection.`,
    with the input projections named as in the original checkpoint (`aggregate_embed`, 2.3+:
    `video_aggregate_embed` / `audio_aggregate_embed`). The connector blocks keep their
    diffusers names there: that is where diffusers' loader reads them (see
    ORIGINAL_CONNECTOR_BLOCKS for why not their original names)."""
    if key.startswith("connectors."):
        module, suffix = _split(key.removeprefix("connectors."))
        parts = [_CONNECTOR_TO_ORIGINAL.get(p, p) for p in module.split(".")]
        return CONNECTOR_PREFIX + ".".join(parts) + suffix
    module, suffix = _split(key.removeprefix("transformer."))
    return COMFY_PREFIX + diffusers_to_original(module) + suffix


# Who reads each key: the names are the family interface's (the network compares readers with them).
COMFYUI, DIFFUSERS, BOTH = COMFYUI_READER, DIFFUSERS_READER, BOTH_READERS


def comfyui_connector_keys(key: str, te_connectors: bool = False) -> list[str]:
    """`connectors.<module>.<adapter suffix>` -> the names ComfyUI applies it under.

    The projection belongs to ComfyUI's text encoder: `text_encoders.text_embedding_projection`
    (2.0) or `...text_embedding_projection.{video,audio}_aggregate_embed` (2.3+). The connector
    blocks belong to its diffusion model; they are written in the kohya form
    `lora_unet_<module path with _>`, a rule every ComfyUI version has (the plain
    `diffusion_model.` form would also reach ComfyUI, but diffusers' converter would send it to
    the transformer and warn about unexpected keys; it skips `lora_unet_` keys silently).
    2.0 (`te_connectors`): ComfyUI's text encoder runs its own copy of the connectors, so the
    blocks also go there, as `text_encoders.{video,audio}_embeddings_connector...`."""
    module, suffix = _split(key.removeprefix("connectors."))
    names = []
    for part, weight_key in comfy_homes(connectors_key(module + ".weight"), te_connectors):
        name = weight_key.removesuffix(".weight")
        if part == MODEL:
            names.append("lora_unet_" + name.removeprefix(COMFY_PREFIX).replace(".", "_") + suffix)
        else:
            names.append("text_encoders." + name + suffix)
    return names


def comfy_file_keys(key: str, te_connectors: bool = False) -> list[tuple[str, frozenset[str]]]:
    """Every name a ComfyUI-format file stores one peft tensor under, with the programs that
    read that name: transformer tensors once (both read it), connector tensors once for
    diffusers and once per ComfyUI home (`te_connectors`: see comfyui_connector_keys)."""
    if key.startswith("connectors."):
        comfy = [(name, frozenset({COMFYUI})) for name in comfyui_connector_keys(key, te_connectors)]
        return [(to_comfy_key(key), frozenset({DIFFUSERS}))] + comfy
    return [(to_comfy_key(key), BOTH)]


# The Linear layers of a connector block (every LTX-2 version), for reading `lora_unet_` names
# back: their underscores cannot be split without knowing the module names.
_CONNECTOR_BLOCK_LINEARS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn1.to_gate_logits",
                            "ff.net.0.proj", "ff.net.2")
_KOHYA_CONNECTOR = re.compile(r"lora_unet_(video|audio)_embeddings_connector_transformer_1d_blocks_(\d+)_(.+?)(\.\w.*)$")
_TE_CONNECTOR = re.compile(r"text_encoders\.(video|audio)_embeddings_connector\.transformer_1d_blocks\.(\d+)\.(.+)$")
_COMFY_PROJECTION = "text_encoders.text_embedding_projection."


def from_comfyui_connector_copies(state: dict) -> dict:
    """The ComfyUI copies of connector tensors (comfyui_connector_keys) -> `connectors.` keys."""
    out = {}
    tails = {m.replace(".", "_"): m for m in _CONNECTOR_BLOCK_LINEARS}
    for key, value in state.items():
        if key.startswith(_COMFY_PROJECTION):
            module, suffix = _split("." + key.removeprefix(_COMFY_PROJECTION))
            module = module.removeprefix(".")
            ours = {"": "text_proj_in", "video_aggregate_embed": "video_text_proj_in",
                    "audio_aggregate_embed": "audio_text_proj_in"}.get(module)
            if ours is None:
                raise UserInputError(f"LoRA file key '{key}': unknown text projection '{module}'")
            out[f"connectors.{ours}{suffix}"] = value
            continue
        match = _TE_CONNECTOR.match(key)
        if match:
            modality, block, rest = match.groups()
            rest = rest.replace("q_norm.", "norm_q.").replace("k_norm.", "norm_k.")
            out[f"connectors.{modality}_connector.transformer_blocks.{block}.{rest}"] = value
            continue
        match = _KOHYA_CONNECTOR.match(key)
        if match:
            modality, block, tail, suffix = match.groups()
            if tail not in tails:
                raise UserInputError(f"LoRA file key '{key}': '{tail}' is no layer of an LTX-2 text connector block")
            out[f"connectors.{modality}_connector.transformer_blocks.{block}.{tails[tail]}{suffix}"] = value
    return out

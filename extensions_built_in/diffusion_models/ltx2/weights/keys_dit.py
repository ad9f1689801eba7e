"""Transformer and text-connector key names: diffusers -> original (Lightricks / ComfyUI) files.

The original single file keeps the DiT and the two embeddings connectors under
`model.diffusion_model.` and the text projection under `text_embedding_projection.`.
Differences to diffusers (the same for 2.0, 2.3 and 2.5; which modules exist depends on the
config, e.g. `prompt_adaln` only with cross_attn_mod, `caption_projection` only in 2.0):

- top-level modules: `time_embed` is `adaln_single`, `proj_in` is `patchify_proj`,
  `av_cross_attn_*` are `av_ca_*_adaln_single`, 2.3+ `prompt_adaln` is `prompt_adaln_single`;
- in every attention `norm_q`/`norm_k` are `q_norm`/`k_norm`;
- per block the a2v cross-attention tables are `scale_shift_table_a2v_ca_{video,audio}`;
- connectors: `{video,audio}_connector` are `{video,audio}_embeddings_connector` and their
  `transformer_blocks` are `transformer_1d_blocks`; the projection in front of them is
  `aggregate_embed` (2.0, shared) or `{video,audio}_aggregate_embed` (2.3/2.5).

Everything else (`scale_shift_table` of any size, `to_gate_logits`, `prompt_scale_shift_table`,
`caption_projection`, `keyframes_abs_pos_embedding`, `ff.net.*` with or without biases) has
the same name on both sides.
"""

from __future__ import annotations

DIT_PREFIX = "model.diffusion_model."
TEXT_PROJECTION_PREFIX = "text_embedding_projection."

_TOP_LEVEL = {
    "time_embed": "adaln_single",
    "audio_time_embed": "audio_adaln_single",
    "proj_in": "patchify_proj",
    "audio_proj_in": "audio_patchify_proj",
    "av_cross_attn_video_scale_shift": "av_ca_video_scale_shift_adaln_single",
    "av_cross_attn_audio_scale_shift": "av_ca_audio_scale_shift_adaln_single",
    "av_cross_attn_video_a2v_gate": "av_ca_a2v_gate_adaln_single",
    "av_cross_attn_audio_v2a_gate": "av_ca_v2a_gate_adaln_single",
    "prompt_adaln": "prompt_adaln_single",
    "audio_prompt_adaln": "audio_prompt_adaln_single",
}

# Names that differ wherever they occur (attention norms, per-block tables).
_ANY_LEVEL = {
    "norm_q": "q_norm",
    "norm_k": "k_norm",
    "video_a2v_cross_attn_scale_shift_table": "scale_shift_table_a2v_ca_video",
    "audio_a2v_cross_attn_scale_shift_table": "scale_shift_table_a2v_ca_audio",
}

_CONNECTOR = {"video_connector": "video_embeddings_connector", "audio_connector": "audio_embeddings_connector"}
_PROJECTION = {
    "text_proj_in": "aggregate_embed",
    "video_text_proj_in": "video_aggregate_embed",
    "audio_text_proj_in": "audio_aggregate_embed",
}


def _rename_parts(parts: list[str]) -> list[str]:
    return [_ANY_LEVEL.get(p, p) for p in parts]


def transformer_key(key: str) -> str:
    """Original key (with `model.diffusion_model.`) of a diffusers transformer state-dict key."""
    parts = key.split(".")
    parts[0] = _TOP_LEVEL.get(parts[0], parts[0])
    return DIT_PREFIX + ".".join(_rename_parts(parts))


def connectors_key(key: str) -> str:
    """Original key of a diffusers `LTX2TextConnectors` state-dict key."""
    head, _, rest = key.partition(".")
    if head in _PROJECTION:
        return f"{TEXT_PROJECTION_PREFIX}{_PROJECTION[head]}.{rest}"
    if head in _CONNECTOR:
        parts = ["transformer_1d_blocks" if p == "transformer_blocks" else p for p in rest.split(".")]
        return f"{DIT_PREFIX}{_CONNECTOR[head]}." + ".".join(_rename_parts(parts))
    raise ValueError(f"unknown connectors key {key!r}")


def is_connector_key(original_key: str) -> bool:
    """True for the original keys that belong to the connectors rather than the transformer."""
    if original_key.startswith(TEXT_PROJECTION_PREFIX) or original_key.startswith(
            DIT_PREFIX + TEXT_PROJECTION_PREFIX):
        return True
    return original_key.startswith(tuple(DIT_PREFIX + c + "." for c in _CONNECTOR.values()))

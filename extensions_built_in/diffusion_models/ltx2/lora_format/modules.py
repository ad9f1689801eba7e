"""The layers of LTX-2 a LoRA can adapt, in diffusers' module names, and what they say about
the version a file was made for.

Every LoRA-able layer is an `nn.Linear` of `LTX2VideoTransformer3DModel` (prefix
`transformer.`) or of `LTX2TextConnectors` (prefix `connectors.`), diffusers 0.42.1. The lists
below are that class family's Linear layers for every release (tests/test_lora_tools_format.py
checks them against the tiny models of 2.0, 2.3 and 2.5 and the real configurations on the
meta device). `N` is a block number.

Which version a set of layers implies (a LoRA only works on the version it was trained on):
- `caption_projection`, `audio_caption_projection` (in the transformer) and the shared text
  projection `connectors.text_proj_in` exist only in 2.0;
- `to_gate_logits` (gated attention), `prompt_adaln`, `audio_prompt_adaln` and the
  per-modality text projections `connectors.{video,audio}_text_proj_in` exist from 2.3 on;
- `time_embed.linear` / `audio_time_embed.linear` write 6 modulation vectors per token in 2.0
  and 9 from 2.3 on (out = 6 or 9 x in);
- 2.3 and 2.5 have the same Linear layers with the same shapes (2.5 drops the video FFN's
  biases, which no LoRA holds): no LoRA file can tell them apart by its tensors.
"""

from __future__ import annotations

import re

from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS

TRANSFORMER, CONNECTORS = "transformer", "connectors"
ALL_VERSIONS = tuple(version.number for version in VERSIONS.values())

# One transformer block: six attentions (video/audio self, video/audio text cross, the two
# audio<->video cross-attentions) and two feed-forwards.
BLOCK_ATTENTIONS = ("attn1", "attn2", "audio_attn1", "audio_attn2", "audio_to_video_attn", "video_to_audio_attn")
ATTENTION_LINEARS = ("to_q", "to_k", "to_v", "to_out.0", "to_gate_logits")
FEED_FORWARDS = ("ff", "audio_ff")
FF_LINEARS = ("net.0.proj", "net.2")

# Timestep embedders (`LTX2AdaLayerNormSingle`): each holds three Linear layers.
TIMESTEP_EMBEDDERS = ("time_embed", "audio_time_embed", "av_cross_attn_video_scale_shift",
                      "av_cross_attn_audio_scale_shift", "av_cross_attn_video_a2v_gate",
                      "av_cross_attn_audio_v2a_gate", "prompt_adaln", "audio_prompt_adaln")
EMBEDDER_LINEARS = ("linear", "emb.timestep_embedder.linear_1", "emb.timestep_embedder.linear_2")
TOP_LEVEL_LINEARS = (
    ("proj_in", "audio_proj_in", "proj_out", "audio_proj_out")
    + tuple(f"{p}.{linear}" for p in ("caption_projection", "audio_caption_projection")
            for linear in ("linear_1", "linear_2"))
    + tuple(f"{e}.{linear}" for e in TIMESTEP_EMBEDDERS for linear in EMBEDDER_LINEARS)
)

CONNECTOR_PROJECTIONS = ("text_proj_in", "video_text_proj_in", "audio_text_proj_in")
CONNECTOR_STACKS = ("video_connector", "audio_connector")
CONNECTOR_BLOCK_LINEARS = tuple(f"attn1.{p}" for p in ATTENTION_LINEARS) + tuple(f"ff.{p}" for p in FF_LINEARS)

_BLOCK = re.compile(r"transformer_blocks\.(\d+)\.(.+)$")
BLOCK_LINEARS = frozenset(f"{a}.{p}" for a in BLOCK_ATTENTIONS for p in ATTENTION_LINEARS) | frozenset(
    f"{f}.{p}" for f in FEED_FORWARDS for p in FF_LINEARS)
_CONNECTOR_BLOCK = re.compile(r"(video_connector|audio_connector)\.transformer_blocks\.(\d+)\.(.+)$")


def split_module(module: str) -> tuple[str, str]:
    """`transformer.transformer_blocks.0.attn1.to_q` -> ("transformer", "transformer_blocks.0.attn1.to_q")."""
    root, _, path = module.partition(".")
    return root, path


def is_lora_module(module: str) -> bool:
    """True when `module` ("transformer.<path>" or "connectors.<path>") is a Linear layer of
    some LTX-2 release."""
    root, path = split_module(module)
    if root == TRANSFORMER:
        match = _BLOCK.match(path)
        return match.group(2) in BLOCK_LINEARS if match else path in TOP_LEVEL_LINEARS
    if root == CONNECTORS:
        match = _CONNECTOR_BLOCK.match(path)
        return match.group(3) in CONNECTOR_BLOCK_LINEARS if match else path in CONNECTOR_PROJECTIONS
    return False


def block_index(module: str) -> int | None:
    """The transformer block a module belongs to (None for top-level and connector layers)."""
    root, path = split_module(module)
    match = _BLOCK.match(path) if root == TRANSFORMER else None
    return int(match.group(1)) if match else None


_ONLY_20 = ("transformer.caption_projection.", "transformer.audio_caption_projection.", "connectors.text_proj_in")
_FROM_23 = ("transformer.prompt_adaln.", "transformer.audio_prompt_adaln.", "connectors.video_text_proj_in",
            "connectors.audio_text_proj_in")
_MODULATION_LINEARS = ("transformer.time_embed.linear", "transformer.audio_time_embed.linear")


def implied_versions(shapes: dict[str, tuple[int, int]]) -> tuple[tuple[str, ...], str]:
    """(the versions a file's layers fit, why), from {module: (out_features, in_features)}.
    A file that fits no version (2.0-only and 2.3-only layers together) gives ()."""
    fits = set(ALL_VERSIONS)
    reasons = []
    only_20 = sorted(m for m in shapes if m.startswith(_ONLY_20))
    from_23 = sorted(m for m in shapes if m.startswith(_FROM_23) or m.endswith(".to_gate_logits"))
    for module in _MODULATION_LINEARS:
        if module in shapes:
            out_features, in_features = shapes[module]
            if out_features == 6 * in_features:
                only_20.append(module)
            elif out_features == 9 * in_features:
                from_23.append(module)
    if only_20:
        fits &= {"2.0"}
        reasons.append(f"{_short(only_20[0])} exists only in LTX-2.0")
    if from_23:
        fits -= {"2.0"}
        reasons.append(f"{_short(from_23[0])} exists from LTX-2.3 on")
    if not reasons:
        reasons.append("its layers exist in every LTX-2 release with the same shapes")
    elif fits and "2.0" not in fits:
        reasons.append("2.3 and 2.5 share every LoRA-able layer and shape")
    return tuple(v for v in ALL_VERSIONS if v in fits), "; ".join(reasons)


def _short(module: str) -> str:
    return module.split(".", 1)[1]

"""Which stream each LoRA-able LTX-2 layer writes: video, audio, or both.

Read from diffusers 0.42.1 (`LTX2VideoTransformer3DModel.forward` and
`LTX2VideoTransformerBlock.forward` in models/transformers/transformer_ltx2.py,
`LTX2TextConnectors.forward` in pipelines/ltx2/connectors.py). One transformer block, in the
order it runs:

1. `attn1` adds to the video hidden states, `audio_attn1` to the audio ones.
2. `attn2` (queries: video, keys/values: the video text embedding) adds to video;
   `audio_attn2` (queries: audio, keys/values: the audio text embedding) adds to audio.
3. The audio<->video cross-attentions. Both read the two streams as normalised once before
   this step, so within a block neither sees the other's write:
   - `audio_to_video_attn`: queries from video, keys/values from audio; its output, times the
     a2v gate, is added to the video hidden states. It writes VIDEO (it reads audio).
   - `video_to_audio_attn`: queries from audio, keys/values from video; added to the audio
     hidden states. It writes AUDIO (it reads video).
4. `ff` adds to video, `audio_ff` to audio.

Top level: `proj_in`/`proj_out`, `time_embed` (the video AdaLN and output modulation),
`caption_projection` (2.0) and `prompt_adaln` (2.3+, the video text keys/values modulation)
serve video; their `audio_` twins serve audio. `av_cross_attn_video_a2v_gate` gates only what
`audio_to_video_attn` adds to video, `av_cross_attn_audio_v2a_gate` only what
`video_to_audio_attn` adds to audio. `av_cross_attn_video_scale_shift` modulates the video
side of BOTH cross-attentions (the video queries of a2v and the video keys/values of v2a), and
`av_cross_attn_audio_scale_shift` the audio side of both: they write both streams.

Text connectors: `video_connector` makes the video text embedding (read by `attn2`),
`audio_connector` the audio one (read by `audio_attn2`); 2.3+ feeds them through
`video_text_proj_in` / `audio_text_proj_in`, while 2.0's single `text_proj_in` feeds both.

"Writes" is the direct effect. Every layer reaches the other stream indirectly in later blocks
(audio attends to video through `video_to_audio_attn` and vice versa), so a LoRA without audio
layers still changes the audio of a joint generation a little; it leaves the audio *layers*
as the base model has them. tests/test_lora_tools_format.py derives every layer's family from
the forward pass itself: it perturbs the layer in a one-block tiny model and sees which output
moves (the streams isolated with `isolate_modalities=True`, or, for the layers that only act
across streams, with the cross-attention on).
"""

from __future__ import annotations

from dataclasses import dataclass

from extensions_built_in.diffusion_models.ltx2.lora_format.modules import (
    CONNECTORS,
    TRANSFORMER,
    block_index,
    is_lora_module,
    split_module,
)

VIDEO, AUDIO = "video", "audio"


@dataclass(frozen=True)
class Family:
    name: str
    label: str
    writes: frozenset[str]

    @property
    def side(self) -> str | None:
        """"video" or "audio" for a family that writes one stream, None for a shared one."""
        return next(iter(self.writes)) if len(self.writes) == 1 else None


VIDEO_LAYERS = Family("video", "video: self-attention, text cross-attention, feed-forward, video in/out and "
                               "timestep layers", frozenset({VIDEO}))
AUDIO_LAYERS = Family("audio", "audio: self-attention, text cross-attention, feed-forward, audio in/out and "
                               "timestep layers", frozenset({AUDIO}))
A2V = Family("a2v", "audio->video cross-attention (queries video, keys/values audio): writes video",
             frozenset({VIDEO}))
V2A = Family("v2a", "video->audio cross-attention (queries audio, keys/values video): writes audio",
             frozenset({AUDIO}))
AV_MODULATION = Family("av-modulation", "audio<->video cross-attention scale/shift: modulates both directions",
                       frozenset({VIDEO, AUDIO}))
TEXT_VIDEO = Family("text-video", "text connector, video side", frozenset({VIDEO}))
TEXT_AUDIO = Family("text-audio", "text connector, audio side", frozenset({AUDIO}))
TEXT_SHARED = Family("text-shared", "LTX-2.0 text projection shared by both connectors", frozenset({VIDEO, AUDIO}))

FAMILIES = (VIDEO_LAYERS, AUDIO_LAYERS, A2V, V2A, AV_MODULATION, TEXT_VIDEO, TEXT_AUDIO, TEXT_SHARED)
BY_NAME = {family.name: family for family in FAMILIES}

_BLOCK_PARTS = {"attn1": VIDEO_LAYERS, "attn2": VIDEO_LAYERS, "ff": VIDEO_LAYERS,
                "audio_attn1": AUDIO_LAYERS, "audio_attn2": AUDIO_LAYERS, "audio_ff": AUDIO_LAYERS,
                "audio_to_video_attn": A2V, "video_to_audio_attn": V2A}
_TOP_LEVEL = {"proj_in": VIDEO_LAYERS, "proj_out": VIDEO_LAYERS, "time_embed": VIDEO_LAYERS,
              "caption_projection": VIDEO_LAYERS, "prompt_adaln": VIDEO_LAYERS,
              "av_cross_attn_video_a2v_gate": VIDEO_LAYERS,
              "audio_proj_in": AUDIO_LAYERS, "audio_proj_out": AUDIO_LAYERS, "audio_time_embed": AUDIO_LAYERS,
              "audio_caption_projection": AUDIO_LAYERS, "audio_prompt_adaln": AUDIO_LAYERS,
              "av_cross_attn_audio_v2a_gate": AUDIO_LAYERS,
              "av_cross_attn_video_scale_shift": AV_MODULATION, "av_cross_attn_audio_scale_shift": AV_MODULATION}
_CONNECTOR_PARTS = {"video_connector": TEXT_VIDEO, "video_text_proj_in": TEXT_VIDEO,
                    "audio_connector": TEXT_AUDIO, "audio_text_proj_in": TEXT_AUDIO, "text_proj_in": TEXT_SHARED}


def family_of(module: str) -> Family:
    """The family of a LoRA-able layer ("transformer.<path>" / "connectors.<path>");
    ValueError for anything that is not one (modules.is_lora_module)."""
    if not is_lora_module(module):
        raise ValueError(f"{module!r} is not a LoRA-able LTX-2 layer")
    root, path = split_module(module)
    parts = path.split(".")
    if root == CONNECTORS:
        return _CONNECTOR_PARTS[parts[0]]
    if root == TRANSFORMER and block_index(module) is not None:
        return _BLOCK_PARTS[parts[2]]
    return _TOP_LEVEL[parts[0]]

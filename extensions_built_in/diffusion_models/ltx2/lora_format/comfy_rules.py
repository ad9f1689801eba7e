"""ComfyUI's LoRA key rules for LTX-2, written down as facts so tests and the save-time check
can tell which keys of one of our files ComfyUI applies and which it drops.

Read (for facts only) from ComfyUI's source, the `Comfy-Org/ComfyUI` repository (the former
`comfyanonymous/ComfyUI`), at the commits in COMFYUI_SOURCE. How ComfyUI loads a LoRA file:

1. `load_lora_for_models` builds one lookup table, "LoRA base name -> weight it patches", from
   the diffusion model (`model_lora_keys_unet`) and, when the loader node is given a CLIP, from
   the text encoder (`model_lora_keys_clip`); `LoraLoaderModelOnly` passes no CLIP.
2. `load_lora` walks that table; for a base name `x` it takes the adapter tensors stored under
   `x` plus a known suffix (ADAPTER_SUFFIXES). Every key of the file it did not take is logged
   as "lora key not loaded: <key>" and ignored. There is no other renaming for LTX-2 files
   (`lora_convert.convert_lora` only rewrites Flux, Wan-Fun, USO and fused-qkv files).

Where an LTX-2 weight lives in ComfyUI (model state-dict names, see `comfy_weight_key`):
- the transformer (`LTXAVModel`, comfy/ldm/lightricks/av_model.py + model.py) uses the original
  checkpoint's module names under `diffusion_model.` (`adaln_single`, `patchify_proj`,
  `q_norm`, `to_gate_logits`, `ff.net.0.proj`, ...);
- the two text connectors are modules of that same diffusion model:
  `diffusion_model.{video,audio}_embeddings_connector.transformer_1d_blocks.N...`. For the
  2.0 release the text encoder also builds its own copy of both connectors ("compat mode",
  `LTXAVTEModel.enable_compat_mode`, marked "TODO: remove" there), loads them from the
  checkpoint (`{video,audio}_embeddings_connector.transformer_1d_blocks.N...` in its state
  dict) and runs them itself; the diffusion model then gets finished embeddings and skips its
  own connectors. ComfyUI's test is "the checkpoint's audio connector has no block 2 and a
  3840-wide block-0 `to_q` bias", which is exactly the 2.0 release (2 blocks of 30 x 128);
  the tiny 2.0 model is narrower, so `text_encoder_runs_connectors` keys on 2.0's single
  text projection instead. A text encoder loaded without the checkpoint (no connector keys)
  stays out of compat mode, and the diffusion model's connectors run;
- the text projection in front of them (`aggregate_embed`) belongs to the text encoder
  (`LTXAVTEModel`, comfy/text_encoders/lt.py), not to the diffusion model: 2.0's single
  projection is the Linear `text_embedding_projection` itself (ComfyUI drops the
  checkpoint's `.aggregate_embed`), 2.3's are `text_embedding_projection.{video,audio}_aggregate_embed`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# The files read, each at the newest commit the code index held for it (2026-11-30).
COMFYUI_SOURCE = {
    "comfy/lora.py": "Comfy-Org/ComfyUI@17358c8f73b581a0d22facc3c385822f09b8bfb1",
    "comfy/sd.py": "Comfy-Org/ComfyUI@033046cc4fac82d954c6daedccf1c8128433c4f1",
    "comfy/lora_convert.py": "Comfy-Org/ComfyUI@2bffe2f4ce5763dcb83df6a670657b6d5c8f85a5",
    "comfy/weight_adapter/lora.py": "Comfy-Org/ComfyUI@6f98b150e065f1ffc788558574a887835068bd40",
    "comfy/weight_adapter/lokr.py": "Comfy-Org/ComfyUI@2bffe2f4ce5763dcb83df6a670657b6d5c8f85a5",
    "comfy/ldm/lightricks/av_model.py": "Comfy-Org/ComfyUI@0a29ddae76c003faac77c5c283e4f1c8cd10acca",
    "comfy/ldm/lightricks/model.py": "Comfy-Org/ComfyUI@e03185cf0810914584e47c0a0e460e7f763ff5dc",
    "comfy_extras/nodes_lt_audio.py": "Comfy-Org/ComfyUI@1362d617419d639a76e122dcb5871fd965fb1019",
    "comfy/ldm/lightricks/embeddings_connector.py": "comfyanonymous/ComfyUI@f45e8b02008880d5b5c71f3863ac36cf364c7648",
    # not held for Comfy-Org/ComfyUI in the index; a fork that tracks it, with 2.3's dual projection
    "comfy/text_encoders/lt.py": "zoidypuh/ComfyUI@4441d221dd95b111d0b9085e397082c86960fd20",
}

MODEL = "model"  # ComfyUI's diffusion model (patched by the model strength)
CLIP = "clip"  # ComfyUI's text encoder (patched only when the LoRA loader gets a CLIP)

_CHECKPOINT_DIT = "model.diffusion_model."
_PROJECTION = "text_embedding_projection."

# The adapter tensors `load_lora` takes for a base name x, as `x + suffix`. A LoRA pair is
# taken when its "up" tensor is present (then the "down" one with it); LoKr factors one by one.
LORA_PAIRS = (
    (".lora_up.weight", ".lora_down.weight"),
    ("_lora.up.weight", "_lora.down.weight"),
    (".lora_B.weight", ".lora_A.weight"),
    (".lora.up.weight", ".lora.down.weight"),
    (".lora_B", ".lora_A"),
    (".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight"),
    (".lora_B.default.weight", ".lora_A.default.weight"),
)
LOKR_FACTORS = (".lokr_w1", ".lokr_w2", ".lokr_w1_a", ".lokr_w1_b", ".lokr_w2_a", ".lokr_w2_b", ".lokr_t2")
# Read next to any adapter of x: the scale (absent: scale 1, so our folded alpha holds) and
# DoRA's per-row magnitude, divided by the base weight's row norm (docs/networks.md).
SHARED_SUFFIXES = (".alpha", ".dora_scale")
ADAPTER_SUFFIXES = tuple(s for pair in LORA_PAIRS for s in pair) + LOKR_FACTORS + SHARED_SUFFIXES


def comfy_weight_key(original_key: str) -> tuple[str, str]:
    """(MODEL or CLIP, ComfyUI state-dict key) of a tensor named as in the original checkpoint
    (extensions_built_in/diffusion_models/ltx2/weights/keys_dit.py names ours that way)."""
    if original_key.startswith(_CHECKPOINT_DIT):
        # ComfyUI's model object holds the transformer (connectors included) as `diffusion_model`.
        return MODEL, original_key.removeprefix("model.")
    if original_key.startswith(_PROJECTION + "aggregate_embed."):
        # 2.0: one Linear named `text_embedding_projection` in ComfyUI's text encoder.
        return CLIP, _PROJECTION + original_key.removeprefix(_PROJECTION + "aggregate_embed.")
    if original_key.startswith(_PROJECTION):
        return CLIP, original_key
    raise ValueError(f"no ComfyUI home known for checkpoint key {original_key!r}")


_CONNECTORS = tuple(f"{_CHECKPOINT_DIT}{m}_embeddings_connector." for m in ("video", "audio"))


def text_encoder_runs_connectors(checkpoint_keys: Iterable[str]) -> bool:
    """True for a 2.0 checkpoint: ComfyUI's text encoder then runs its own connector copies."""
    return _PROJECTION + "aggregate_embed.weight" in set(checkpoint_keys)


def comfy_homes(original_key: str, te_connectors: bool) -> list[tuple[str, str]]:
    """Every ComfyUI weight a checkpoint tensor is loaded into: one, or for a 2.0 connector
    tensor (`te_connectors`) the text encoder's copy, which runs, and the diffusion model's."""
    home = comfy_weight_key(original_key)
    if te_connectors and original_key.startswith(_CONNECTORS):
        return [(CLIP, original_key.removeprefix(_CHECKPOINT_DIT)), home]
    return [home]


def comfy_state_keys(checkpoint_keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """An original checkpoint's keys -> (ComfyUI diffusion-model state-dict keys, text-encoder
    state-dict keys); parts ComfyUI loads elsewhere (VAEs, vocoder) are left out."""
    keys = list(checkpoint_keys)
    te_connectors = text_encoder_runs_connectors(keys)
    model, clip = [], []
    for key in keys:
        if not key.startswith((_CHECKPOINT_DIT, _PROJECTION)):
            continue
        for part, comfy_key in comfy_homes(key, te_connectors):
            (model if part == MODEL else clip).append(comfy_key)
    return model, clip


def lora_key_map(model_keys: Iterable[str], clip_keys: Iterable[str], ltx: bool = True) -> dict[str, tuple[str, str]]:
    """LoRA base name -> (MODEL|CLIP, weight key): the lookup table ComfyUI builds for an LTX-2
    model (`ltx`: the extra rule `model_lora_keys_unet` has for its LTXV/LTXAV classes)."""
    table: dict[str, tuple[str, str]] = {}
    for key in model_keys:
        if not key.startswith("diffusion_model."):
            continue
        if not key.endswith(".weight"):
            table[key] = (MODEL, key)  # biases and tables: only by their full name
            continue
        module = key.removeprefix("diffusion_model.").removesuffix(".weight")
        table["lora_unet_" + module.replace(".", "_")] = (MODEL, key)  # kohya style
        table["diffusion_model." + module] = (MODEL, key)  # "generic format"
        if ltx:
            table[module] = (MODEL, key)  # LTXV/LTXAV: also without any prefix
    for key in clip_keys:
        if key.endswith(".weight"):
            table["text_encoders." + key.removesuffix(".weight")] = (CLIP, key)
    return table


@dataclass
class ComfyLoad:
    """What ComfyUI does with a file: the weights it patches (with the file keys each one
    took) and the keys it logs as "lora key not loaded"."""

    patched: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    not_loaded: list[str] = field(default_factory=list)


def comfy_load(file_keys: Iterable[str], key_map: dict[str, tuple[str, str]]) -> ComfyLoad:
    """Which keys of a LoRA file ComfyUI's `load_lora` takes under `key_map`, and which it drops."""
    keys = set(file_keys)
    taken: set[str] = set()
    result = ComfyLoad()
    for base, target in key_map.items():
        took = [base + s for s in SHARED_SUFFIXES if base + s in keys]
        adapter = []
        for up, down in LORA_PAIRS:
            if base + up in keys:
                adapter = [base + up, base + down]
                break
        adapter += [base + s for s in LOKR_FACTORS if base + s in keys]
        if adapter:
            result.patched.setdefault(target, []).extend(took + adapter)
            taken.update(took + adapter)
        else:
            taken.update(took)  # read, though nothing is patched without an adapter
    result.not_loaded = sorted(keys - taken)
    return result

"""A LoRA file's keys read back under the network's peft keys, through diffusers' own converter so
we read exactly what diffusers reads (the heavy half of the key knowledge: lora_keys.py names the
keys without diffusers, for `--validate` and the LoRA tools)."""

from __future__ import annotations

from diffusers.loaders.lora_conversion_utils import _convert_non_diffusers_ltx2_lora_to_diffusers

from extensions_built_in.diffusion_models.ltx2.lora_format.lora_keys import (
    COMFY_PREFIX,
    CONNECTOR_PREFIX,
    ORIGINAL_CONNECTOR_BLOCKS,
    from_comfyui_connector_copies,
)


def from_comfy_state_dict(state_dict: dict) -> dict:
    """A LoRA file's keys (ComfyUI or diffusers) -> `transformer.`/`connectors.` peft keys,
    through diffusers' own converter so we read exactly what diffusers reads."""
    state = dict(state_dict)
    out = {k: v for k, v in state.items() if k.startswith(("transformer.", "connectors."))}
    for original, ours in ORIGINAL_CONNECTOR_BLOCKS.items():
        for key in [k for k in state if k.startswith(original)]:
            rest = key.removeprefix(original).replace("transformer_1d_blocks.", "transformer_blocks.")
            rest = rest.replace(".q_norm.", ".norm_q.").replace(".k_norm.", ".norm_k.")
            out[ours + rest] = state.pop(key)
    if any(k.startswith(COMFY_PREFIX) for k in state):
        out.update(_convert_non_diffusers_ltx2_lora_to_diffusers(state))
    if any(k.startswith(CONNECTOR_PREFIX) for k in state):
        out.update(_convert_non_diffusers_ltx2_lora_to_diffusers(state, "text_embedding_projection"))
    # Our files hold connector tensors under both programs' names (equal values): the
    # diffusers copy is read above; the ComfyUI copy fills in when a file has only that one.
    for key, value in from_comfyui_connector_copies(state).items():
        out.setdefault(key, value)
    return out

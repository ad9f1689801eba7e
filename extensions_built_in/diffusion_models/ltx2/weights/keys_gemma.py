"""Gemma text-model key names in a text-encoder file (`model.*`): LTX-2.5's Gemma 4 file and
ComfyUI's Gemma 3 file (2.0/2.3).

The file keeps the language model flat under `model.` (ComfyUI's layout); a file saved from
transformers' multimodal model has it under `model.language_model.` (older transformers:
`language_model.model.`) instead. All are read; the writer uses the flat form. Vision or audio tower weights in the file are not loaded (the
trainer only needs the text hidden states).
"""

from __future__ import annotations

TEXT_ENCODER_PREFIX = "model."
_NESTED_PREFIX = "model.language_model."
_OLD_NESTED_PREFIX = "language_model.model."


def text_encoder_key(key: str) -> str:
    return TEXT_ENCODER_PREFIX + key


def text_encoder_alternatives(original_key: str) -> list[str]:
    rest = original_key[len(TEXT_ENCODER_PREFIX):]
    return [original_key, _NESTED_PREFIX + rest, _OLD_NESTED_PREFIX + rest]


def is_text_model_key(original_key: str) -> bool:
    """True for the language-model keys of the file (the ones the text encoder must consume)."""
    if original_key.startswith((_NESTED_PREFIX, _OLD_NESTED_PREFIX)):
        return True
    rest = original_key[len(TEXT_ENCODER_PREFIX):] if original_key.startswith(TEXT_ENCODER_PREFIX) else None
    return rest is not None and rest.split(".")[0] in ("embed_tokens", "layers", "norm")

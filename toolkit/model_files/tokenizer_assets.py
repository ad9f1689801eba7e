"""The tokenizer the LTX-2.5 text-encoder file carries inside itself.

The file stores `tokenizer.json` as the uint8 tensor `tokenizer_json` and every other
tokenizer file `NAME` as `hf_asset__NAME`. They are written to a temporary folder only long
enough for transformers to read them (nothing is left next to the user's file).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

TOKENIZER_JSON = "tokenizer_json"
ASSET_PREFIX = "hf_asset__"


def is_asset_key(key: str) -> bool:
    return key == TOKENIZER_JSON or key.startswith(ASSET_PREFIX)


def asset_name(key: str) -> str:
    return "tokenizer.json" if key == TOKENIZER_JSON else key[len(ASSET_PREFIX):]


def to_tensors(files: dict[str, bytes]) -> dict[str, torch.Tensor]:
    """Tokenizer files (name -> bytes) as the file's uint8 tensors."""
    out = {}
    for name, data in files.items():
        key = TOKENIZER_JSON if name == "tokenizer.json" else ASSET_PREFIX + name
        out[key] = torch.frombuffer(bytearray(data), dtype=torch.uint8).clone()
    return out


def build_tokenizer(tensors: dict[str, torch.Tensor]):
    """A transformers tokenizer from the embedded files; BOS is added to every prompt.

    The packed tokenizer.json has no post-processor (ComfyUI adds BOS itself), and Gemma
    prompts must start with BOS, so the tokenizer is asked to add it.
    """
    from transformers import AutoTokenizer  # noqa: PLC0415 (heavy (transformers): loaded when first needed, so --check and start-up stay fast)

    with tempfile.TemporaryDirectory(prefix="ltx25-tokenizer-") as tmp:
        for key, tensor in tensors.items():
            (Path(tmp) / asset_name(key)).write_bytes(tensor.to(torch.uint8).numpy().tobytes())
        return AutoTokenizer.from_pretrained(tmp, add_bos_token=True)

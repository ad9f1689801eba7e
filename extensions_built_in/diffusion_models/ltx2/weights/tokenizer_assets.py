"""The tokenizer a text-encoder file carries inside itself.

Two forms are in circulation:

- LTX-2.5's packed Gemma 4 file stores `tokenizer.json` as the uint8 tensor `tokenizer_json` and
  every other tokenizer file `NAME` as `hf_asset__NAME`. Older packs and ComfyUI's keep the small
  ones (`tokenizer_config.json`, `processor_config.json`, `chat_template.jinja`,
  `generation_config.json`) as metadata strings of the same name instead (Lightricks' ltx-core
  reads both), and some store the bytes as int8. They are written to a temporary folder only long
  enough for transformers to read them (nothing is left next to the user's file).
- ComfyUI's Gemma 3 file for 2.0/2.3 stores Gemma's SentencePiece model as the uint8 tensor
  `spiece_model` (ComfyUI and musubi-tuner tokenize with it). It is converted with transformers'
  own SentencePiece helpers (protobuf, no sentencepiece package) into its Gemma tokenizer.

Gemma prompts must start with BOS (ComfyUI adds it to both). A tokenizer built from a file that
does not say what its BOS token is would drop it without a word, so it is refused instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from transformers import AutoTokenizer, GemmaTokenizer
from transformers.convert_slow_tokenizer import import_protobuf
from transformers.tokenization_utils_base import generate_merges

from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError
from extensions_built_in.diffusion_models.ltx2.weights.file_index import SPIECE_MODEL

TOKENIZER_JSON = "tokenizer_json"
ASSET_PREFIX = "hf_asset__"
# Tokenizer files that a pack may keep as metadata strings rather than tensors.
METADATA_ASSETS = ("tokenizer_config.json", "processor_config.json", "chat_template.jinja",
                   "generation_config.json", "special_tokens_map.json")


def is_asset_key(key: str) -> bool:
    return key in (TOKENIZER_JSON, SPIECE_MODEL) or key.startswith(ASSET_PREFIX)


def asset_name(key: str) -> str:
    return "tokenizer.json" if key == TOKENIZER_JSON else key[len(ASSET_PREFIX):]


def to_tensors(files: dict[str, bytes]) -> dict[str, torch.Tensor]:
    """Tokenizer files (name -> bytes) as the file's uint8 tensors."""
    out = {}
    for name, data in files.items():
        key = TOKENIZER_JSON if name == "tokenizer.json" else ASSET_PREFIX + name
        out[key] = torch.frombuffer(bytearray(data), dtype=torch.uint8).clone()
    return out


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """The bytes a uint8 (or, as some packs write it, int8) tensor holds."""
    flat = tensor.reshape(-1)
    if flat.dtype == torch.int8:
        flat = flat.view(torch.uint8)  # same bits: a byte above 127 was stored as a negative number
    return flat.to(torch.uint8).numpy().tobytes()


def embedded_files(keys, tensor, metadata: dict[str, str]) -> dict[str, bytes]:
    """name -> bytes of every tokenizer file a packed text-encoder file holds, as tensors or
    (the older form) as metadata strings; `tensor(key)` reads one tensor."""
    files = {asset_name(k): tensor_bytes(tensor(k)) for k in keys
             if k == TOKENIZER_JSON or k.startswith(ASSET_PREFIX)}
    for name in METADATA_ASSETS:
        if name not in files and name in metadata:
            files[name] = metadata[name].encode()
    return files


def build_tokenizer(files: dict[str, bytes], where: str):
    """A transformers tokenizer from the embedded files, adding BOS to every prompt.

    The packed tokenizer.json has no post-processor (ComfyUI adds BOS itself), and Gemma
    prompts must start with BOS, so the tokenizer is asked to add it."""
    with tempfile.TemporaryDirectory(prefix="ltx-tokenizer-") as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        tokenizer = AutoTokenizer.from_pretrained(tmp, add_bos_token=True)
    require_bos(tokenizer, where, "tokenizer_config.json is in neither an hf_asset__tokenizer_config.json "
                                  "tensor nor a 'tokenizer_config.json' metadata string")
    return tokenizer


def build_spiece_tokenizer(model_proto: bytes, where: str):
    """Gemma's tokenizer from a serialized SentencePiece model (ComfyUI's `spiece_model`), with
    BOS and without EOS, as ComfyUI tokenizes for LTX-2."""
    proto = import_protobuf().ModelProto()
    try:
        proto.ParseFromString(model_proto)
    except Exception as exc:  # protobuf raises its own DecodeError type (and others by backend)
        raise ModelFileError(f"{where}: its {SPIECE_MODEL} tensor is not a SentencePiece model ({exc})") from exc
    if not proto.pieces:
        raise ModelFileError(f"{where}: its {SPIECE_MODEL} tensor is not a SentencePiece model (no pieces)")
    vocab = {piece.piece: index for index, piece in enumerate(proto.pieces)}
    # Gemma's model is BPE: the merges follow from the pieces, ranked by their scores
    merges = generate_merges(vocab, {piece.piece: piece.score for piece in proto.pieces})
    special = {name: proto.pieces[i].piece for name, i in (
        ("pad_token", proto.trainer_spec.pad_id), ("eos_token", proto.trainer_spec.eos_id),
        ("bos_token", proto.trainer_spec.bos_id), ("unk_token", proto.trainer_spec.unk_id))
        if 0 <= i < len(proto.pieces)}
    tokenizer = GemmaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, add_eos_token=False, **special)
    require_bos(tokenizer, where, "its SentencePiece model names no BOS piece")
    return tokenizer


def require_bos(tokenizer, where: str, why: str) -> None:
    """Refuse a tokenizer that would not start a prompt with BOS."""
    bos = tokenizer.bos_token_id
    ids = list(tokenizer("a")["input_ids"])
    if bos is None or not ids or ids[0] != bos:
        raise ModelFileError(
            f"{where}: the tokenizer it carries adds no BOS token ('a' becomes {ids}, BOS is "
            f"{tokenizer.bos_token!r}): {why}. Gemma prompts must start with BOS, so prompts would be "
            "encoded unlike in training; use the released file, or give a tokenizer folder")

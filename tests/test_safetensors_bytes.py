"""Every safetensors file the trainer writes goes through toolkit/atomic.py: the same tensors
and metadata give the same bytes. safetensors' own writer orders the metadata by a hash map
drawn afresh for every file, so a LoRA saved twice had other bytes and another checksum."""

from __future__ import annotations

import hashlib

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

from toolkit.atomic import atomic_save_tensors


def test_the_same_content_is_the_same_bytes(tmp_path):
    tensors = {"lora_A": torch.arange(12, dtype=torch.float32).reshape(3, 4),
               "lora_B": torch.ones(4, 3, dtype=torch.bfloat16)}
    metadata = {f"ss_key_{i}": f"value {i} é" for i in range(12)}
    raw = {hashlib.sha256(save(tensors, metadata=metadata)).hexdigest() for _ in range(8)}
    assert len(raw) > 1  # the library's own bytes differ from file to file
    written = [atomic_save_tensors(tmp_path / f"{i}.safetensors", tensors, metadata).read_bytes() for i in range(8)]
    assert all(data == written[0] for data in written)
    loaded = load_file(str(tmp_path / "0.safetensors"))
    assert loaded.keys() == tensors.keys() and all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    with safe_open(str(tmp_path / "0.safetensors"), "pt") as handle:
        assert handle.metadata() == metadata

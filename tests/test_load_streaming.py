"""Weights go straight to where they rest, in their final form (extensions_built_in/diffusion_models/ltx2/weights/stream.py):
the same modules as the libraries' own loading, blocks quantized as they arrive (never a full
precision copy of the transformer first), file pages given back once copied elsewhere."""

from __future__ import annotations

import psutil
import pytest
import torch
from safetensors.torch import save_file

import extensions_built_in.diffusion_models.ltx2.component_placement as placement
from extensions_built_in.diffusion_models.ltx2.loading import ModelSources, _classes, load_components
from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS
from extensions_built_in.diffusion_models.ltx2.weights.mapped import MappedSafetensors
from toolkit.memory.offload import OffloadedLinear
from toolkit.memory.qtensor import dequantize_weight, is_quantized_module
from toolkit.memory.quantize import quantize_model

ARCHS = {"2.0": "ltx2", "2.3": "ltx2.3", "2.5": "ltx2.5"}


@pytest.mark.parametrize("version", ["2.0", "2.3", "2.5"])
def test_folder_streaming_matches_the_libraries_loading(version, tiny_version_dir):
    """Every parameter and buffer, dtype and value, as diffusers' and transformers'
    from_pretrained give them (the text encoder: the language model of transformers' class)."""
    folder = tiny_version_dir(version)
    arch = VERSIONS[ARCHS[version]]
    streamed, _ = load_components(arch, ModelSources(str(folder)), torch.bfloat16)
    classes = _classes(arch)
    for name in ("transformer", "connectors", "vae", "audio_vae", "vocoder", "text_encoder"):
        key = "dtype" if name == "text_encoder" else "torch_dtype"
        reference = classes[name].from_pretrained(str(folder / name), **{key: torch.bfloat16})
        if name == "text_encoder":
            reference = reference.model.language_model
        mine = {**dict(streamed[name].named_parameters()), **dict(streamed[name].named_buffers())}
        theirs = {**dict(reference.named_parameters()), **dict(reference.named_buffers())}
        assert mine.keys() == theirs.keys(), name
        differ = [k for k in mine if mine[k].dtype != theirs[k].dtype or not torch.equal(mine[k], theirs[k])]
        assert differ == [], f"{version} {name}: {differ[:3]}"


@pytest.mark.parametrize("qtype", ["qint8", "int8"])
def test_blocks_are_quantized_as_they_arrive(qtype, tiny_model_dir, monkeypatch):
    """When a block is quantized no other block's Linear weights are in memory in full
    precision; the result is what quantizing the whole loaded transformer gives; with
    offloading the first blocks rest on the host as offloaded layers."""
    full_precision_linears = []
    quantize = placement.quantize_model

    def watching(module, qtype, **kwargs):
        transformer = being_read["transformer"]
        loose = [m for m in transformer.transformer_blocks.modules() if isinstance(m, torch.nn.Linear)
                 and not is_quantized_module(m) and m.weight.device.type != "meta"]
        full_precision_linears.append(len(loose))
        return quantize(module, qtype, **kwargs)

    monkeypatch.setattr(placement, "quantize_model", watching)
    being_read = {}
    settings = LTX2Settings(version=VERSIONS["ltx2"], gradient_checkpointing=False, quantize=True, qtype=qtype,
                            layer_offloading=True, layer_offloading_transformer_percent=0.5)
    model = LTX2Model.load(str(tiny_model_dir), settings, phased=True)
    being_read["transformer"] = model._source.weights["transformer"].module  # built empty, filled block by block
    model.enter_phase("train")
    per_block = sum(isinstance(m, torch.nn.Linear) for m in model.transformer.transformer_blocks[1].modules())
    assert len(full_precision_linears) == 2 and max(full_precision_linears) <= per_block
    assert any(n.startswith("quantized 56 transformer Linear layers") for n in model.memory_notes)
    offloaded = [m for m in model.transformer.transformer_blocks[0].modules() if isinstance(m, OffloadedLinear)]
    assert len(offloaded) == per_block and not any(
        isinstance(m, OffloadedLinear) for m in model.transformer.transformer_blocks[1].modules())
    assert not any(isinstance(m, OffloadedLinear) for n, m in model.transformer.named_modules()
                   if not n.startswith("transformer_blocks"))  # half the blocks: the rest stays

    reference = _classes(VERSIONS["ltx2"])["transformer"].from_pretrained(str(tiny_model_dir / "transformer"),
                                                                           torch_dtype=torch.float32)
    quantize_model(reference, qtype, include=("transformer_blocks.",))
    for name, module in reference.named_modules():
        if is_quantized_module(module):
            mine = model.transformer.get_submodule(name)
            assert torch.equal(dequantize_weight(mine, torch.float32), dequantize_weight(module, torch.float32)), name


def test_with_every_block_swapped_the_layers_outside_the_blocks_rest_on_the_host(tiny_model_dir):
    """The modulation embedders and projections outside the blocks (in LTX-2.3 as large as a
    block) are the last unit block swap takes: with every block swapped they rest on the host
    too, fetched when called; the run's memory notes say so."""
    settings = LTX2Settings(version=VERSIONS["ltx2"], gradient_checkpointing=False, layer_offloading=True,
                            layer_offloading_transformer_percent=1.0)
    model = LTX2Model.load(str(tiny_model_dir), settings, phased=True)
    model.enter_phase("train")
    outside = [name for name, m in model.transformer.named_modules()
               if isinstance(m, torch.nn.Linear) and not name.startswith("transformer_blocks")]
    assert outside and all(isinstance(model.transformer.get_submodule(n), OffloadedLinear) for n in outside)
    assert any(f"{len(outside)} Linear layers outside the transformer blocks" in n for n in model.memory_notes)


def _file_with_data_at(path, tensors, remainder: int):
    """A .safetensors file whose tensor data starts `remainder` bytes past a 64-byte boundary
    (the header's length, padded by a metadata entry, decides where the data starts)."""
    def start(pad: int) -> int:
        save_file(tensors, str(path), metadata={"pad": "x" * pad})
        with open(path, "rb") as handle:
            return 8 + int.from_bytes(handle.read(8), "little")

    first = start(8)  # safetensors pads its header to 8 bytes: 8 more characters move the data 8 bytes
    if start(8 + (remainder - first) % 64) % 64 != remainder:
        raise AssertionError("the header did not grow as expected")
    return path


def test_pages_of_copied_tensors_are_given_back(tmp_path):
    """A weight at an aligned address is a view on the file: resident once touched; after it
    was copied elsewhere (`release`) its pages leave this process's memory. One at an
    unaligned address is copied (kernels compute differently on it) a slice at a time, each
    slice's pages given back: the copy never costs the tensor twice."""
    size = 48 * 2 ** 20
    tensors = {"a": torch.ones(size // 4)}
    process = psutil.Process()
    aligned = MappedSafetensors(_file_with_data_at(tmp_path / "aligned.safetensors", tensors, 0))
    view = aligned.tensor("a")
    before = process.memory_info().rss
    assert float(view.sum()) == size // 4  # every page touched: the view's file pages are resident
    touched = process.memory_info().rss
    assert touched - before > 0.9 * size
    copy = view.to(torch.bfloat16)  # where the weight rests from now on
    del view
    aligned.release("a")
    assert process.memory_info().rss < touched + copy.numel() * 2 - 0.9 * size
    assert float(copy.float().sum()) == size // 4  # the copy is unaffected

    unaligned = MappedSafetensors(_file_with_data_at(tmp_path / "unaligned.safetensors", tensors, 8))
    before = process.memory_info().rss
    copied = unaligned.tensor("a")
    assert copied.data_ptr() % 64 == 0 and float(copied.sum()) == size // 4
    assert process.memory_info().rss - before < 1.25 * size

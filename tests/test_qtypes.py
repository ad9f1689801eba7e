"""Every quantization name users write (ai-toolkit's spellings included) quantizes for real,
and an adapter trains on the lowest-bit one."""

from __future__ import annotations

import copy

import pytest
import torch
from network_helpers import load_transformer, step_loss, transformer_inputs, tuner_layers

from toolkit.lora.network import Network, NetworkSettings
from toolkit.memory.qtensor import dequantize_weight, is_quantized_tensor
from toolkit.memory.qtypes import resolve_qtype
from toolkit.memory.quantize import quantize_model

LAYER = "transformer_blocks.0.attn1.to_q"


@pytest.fixture(scope="module")
def bf16_transformer(tiny_model_dir):
    return load_transformer(tiny_model_dir, torch.bfloat16)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name, tolerance", [
    ("qint2", 0.6), ("qint4", 0.2), ("qfloat8_e4m3fn", 0.1), ("qfloat8_e4m3fnuz", 0.1), ("qfloat8_e5m2", 0.2),
    ("int8", 0.1), ("float8", 0.1), ("uint2", 0.6), ("uint3", 0.3), ("uint4", 0.15), ("uint5", 0.08),
    ("uint6", 0.04), ("uint7", 0.02), ("uint8", 0.01)])
def test_each_name_quantizes_the_weight(bf16_transformer, name, tolerance):
    transformer = copy.deepcopy(bf16_transformer)
    assert quantize_model(transformer, name, include=(LAYER,)) == [LAYER]
    layer = transformer.get_submodule(LAYER)
    original = bf16_transformer.get_submodule(LAYER).weight.float()
    assert is_quantized_tensor(layer.weight), name
    dense = dequantize_weight(layer, torch.float32)
    error = (dense - original).abs().max() / original.abs().max()
    assert 0 < error < tolerance, (name, float(error))  # > 0: really quantized, not a copy


def test_aliases_resolve_to_the_same_backend():
    assert resolve_qtype("int8").weights == resolve_qtype("torchao_int8").weights == "int8"
    assert resolve_qtype("FLOAT8").backend == "torchao" and resolve_qtype("qint4").backend == "quanto"
    assert resolve_qtype("uint4").backend == "torchao"
    with pytest.raises(ValueError, match="nearest served type is 'uint3'"):
        resolve_qtype("orbit3")


@pytest.mark.filterwarnings("ignore")
def test_uint_levels_are_2_to_the_n_per_row(bf16_transformer):
    """uintN: at most 2^N distinct values per output row (one scale and zero point each)."""
    for bits in (2, 3):
        transformer = copy.deepcopy(bf16_transformer)
        quantize_model(transformer, f"uint{bits}", include=(LAYER,))
        dense = dequantize_weight(transformer.get_submodule(LAYER), torch.float32)
        levels = max(len(torch.unique(row)) for row in dense)
        assert 2 ** (bits - 1) < levels <= 2 ** bits, (bits, levels)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("qtype", ["qint2", "uint4"])
def test_lora_trains_on_a_low_bit_base(bf16_transformer, qtype):
    transformer = copy.deepcopy(bf16_transformer)
    quantize_model(transformer, qtype, include=("transformer_blocks.",))
    network = Network(transformer, NetworkSettings(type="lora", rank=4, alpha=4))
    transformer.train()
    loss = step_loss(transformer, transformer_inputs(torch.bfloat16))
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for layer in tuner_layers(transformer).values() for p in layer.parameters() if p.requires_grad]
    assert len(tuner_layers(transformer)) == len(network.targets) and all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0

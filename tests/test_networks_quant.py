"""LoRA, DoRA and LoKr on every quantization type: they train, only adapters get gradients,
and every wrapped layer returns its input's dtype."""

from __future__ import annotations

import copy
import os
import time
import warnings

import pytest
import torch
from network_helpers import (
    NETWORK_TYPES,
    QTYPES,
    adapter_parameters,
    load_transformer,
    step_loss,
    transformer_inputs,
    tuner_layers,
)
from optimum.quanto.library.extensions import extension

from toolkit.errors import UserInputError
from toolkit.lora.network import Network, NetworkSettings
from toolkit.memory.qtensor import dequantize_weight, is_quantized_tensor
from toolkit.memory.quantize import quantize_model, select_linears
from toolkit.memory.quanto_build import STALE_AFTER_S


@pytest.fixture(scope="module")
def bf16_transformer(tiny_model_dir):
    """Loaded once; each test quantizes and adapts its own deep copy."""
    return load_transformer(tiny_model_dir, torch.bfloat16)


def adapted(base, qtype, network_type, **settings):
    transformer = copy.deepcopy(base)
    if qtype:
        quantize_model(transformer, qtype, include=("transformer_blocks.",))
    transformer.enable_gradient_checkpointing()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft: torchao layers without a re-quantizer cannot merge
        network = Network(transformer, NetworkSettings(type=network_type, rank=4, alpha=8, **settings))
    transformer.train()
    return transformer, network


@pytest.mark.parametrize("qtype", QTYPES)
@pytest.mark.parametrize("network_type", NETWORK_TYPES)
def test_adapter_trains_on_quantized_base(bf16_transformer, network_type, qtype):
    transformer, network = adapted(bf16_transformer, qtype, network_type)
    quantized = [m for m in transformer.modules() if is_quantized_tensor(getattr(m, "weight", None))]
    assert bool(quantized) == bool(qtype)

    loss = step_loss(transformer, transformer_inputs(torch.bfloat16))
    assert torch.isfinite(loss)
    loss.backward()

    layers = tuner_layers(transformer)
    assert len(layers) == len(network.targets) == 56
    for name, layer in layers.items():
        grads = [p.grad for p in layer.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, f"{name}: adapter got no gradient"
    trainable = adapter_parameters(transformer)
    assert set(trainable) == {id_ for id_ in trainable if ("lora_" in id_ or "lokr_" in id_)}
    for name, param in transformer.named_parameters():
        if name not in trainable:
            assert param.grad is None and not param.requires_grad, name
    for module in quantized:
        assert not module.weight.requires_grad  # quanto's freeze() turns it on; we turn it off

    # every wrapped forward returns its input's dtype, whatever the base computes in
    with torch.no_grad():
        for name, layer in layers.items():
            features = layer.get_base_layer().in_features
            for dtype in (torch.float32, torch.bfloat16):
                assert layer(torch.randn(3, features).to(dtype)).dtype == dtype, (name, dtype)


@pytest.mark.filterwarnings("ignore:Mismatch dtype between input and weight")  # bf16 qk-norm weights, f32 input
@pytest.mark.parametrize("qtype", QTYPES[1:])
def test_float32_activations_through_bf16_quantized_dora_blocks(bf16_transformer, qtype):
    """The blocks of a bf16 quantized transformer with DoRA fed float32 activations (hidden
    states, embeddings, masks) run forward and backward and stay float32 throughout."""
    transformer, _ = adapted(bf16_transformer, qtype, "dora")
    seen = []

    def to_float32(value):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value.float()
        if isinstance(value, tuple):
            return tuple(to_float32(v) for v in value)
        return value

    def cast_inputs(module, args, kwargs):
        return tuple(to_float32(a) for a in args), {k: to_float32(v) for k, v in kwargs.items()}

    def record(module, args, kwargs, output):
        seen.append(tuple(o.dtype for o in output))

    def back_to_bf16(module, args):
        return (args[0].to(torch.bfloat16),)

    handles = []
    for block in transformer.transformer_blocks:
        handles.append(block.register_forward_pre_hook(cast_inputs, with_kwargs=True))
        handles.append(block.register_forward_hook(record, with_kwargs=True))
    # the model's own unquantized exit projections keep their bf16 weights
    for exit_layer in (transformer.norm_out, transformer.audio_norm_out):
        handles.append(exit_layer.register_forward_pre_hook(back_to_bf16))
    try:
        loss = step_loss(transformer, transformer_inputs(torch.bfloat16))
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()
    assert seen and all(dtypes == (torch.float32, torch.float32) for dtypes in seen)
    magnitudes = [p.grad for n, p in transformer.named_parameters() if "lora_magnitude_vector" in n]
    assert magnitudes and all(g is not None and g.abs().sum() > 0 for g in magnitudes)


def test_quantize_keeps_entry_exit_norm_and_embedding_layers(bf16_transformer):
    names = select_linears(bf16_transformer)
    assert names and not any(n in ("proj_in", "proj_out", "audio_proj_in", "audio_proj_out") for n in names)
    assert not any("embed" in n for n in names)
    transformer = copy.deepcopy(bf16_transformer)
    quantized = quantize_model(transformer, "qint8", include=("transformer_blocks.",))
    assert quantized and all(n.startswith("transformer_blocks.") for n in quantized)
    assert not is_quantized_tensor(transformer.proj_in.weight)
    with pytest.raises(ValueError, match="unknown qtype"):
        quantize_model(transformer, "int3")


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_quantized_tensor_helper_uses_exact_types(bf16_transformer):
    plain = [torch.zeros(2), torch.zeros(2, dtype=torch.bfloat16), torch.nn.Parameter(torch.zeros(2)),
             torch.zeros(2, dtype=torch.int8), None, "weight"]
    assert all(hasattr(t, "dequantize") for t in plain[:4])  # why hasattr is no test (root cause #24)
    from toolkit.memory.qtensor import is_quantized_tensor as check

    assert not any(check(t) for t in plain)
    assert check(torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.qint8))
    for qtype in QTYPES[1:]:
        transformer = copy.deepcopy(bf16_transformer)
        quantize_model(transformer, qtype, include=("transformer_blocks.0.attn1.to_q",))
        layer = transformer.transformer_blocks[0].attn1.to_q
        original = bf16_transformer.transformer_blocks[0].attn1.to_q.weight
        assert check(layer.weight), qtype
        dense = dequantize_weight(layer, torch.float32)
        assert type(dense) is torch.Tensor and not dense.requires_grad and dense.grad_fn is None
        assert (dense - original.float()).abs().max() < 0.1 * original.float().abs().max(), qtype


def test_dora_weight_norm_records_nothing_on_frozen_quantized_weight(bf16_transformer):
    transformer, _ = adapted(bf16_transformer, "qfloat8", "dora")
    layer = transformer.transformer_blocks[0].attn1.to_q
    x = torch.randn(4, 32, requires_grad=True)
    out = layer(x)
    out.float().sum().backward()
    names = set()
    stack = [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in names:
            continue
        names.add(node)
        stack.extend(fn for fn, _ in node.next_functions)
    assert not any("Dequantize" in type(n).__name__ for n in names)
    assert x.grad is not None and layer.lora_magnitude_vector["default"].weight.grad is not None


@pytest.mark.parametrize("network_type", NETWORK_TYPES)
def test_each_network_lowers_a_fixed_batch_loss_on_a_quantized_base(bf16_transformer, network_type):
    """LoKr materialises its full delta weight every step; it trains like the others."""
    transformer, network = adapted(bf16_transformer, "qint8", network_type)
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-2)
    inputs = transformer_inputs(torch.bfloat16)
    losses = []
    for _ in range(8):
        optimizer.zero_grad(set_to_none=True)
        loss = step_loss(transformer, inputs)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses


def test_an_interrupted_quanto_kernel_build_is_named_not_waited_on(tmp_path, monkeypatch, caplog):
    """A killed build leaves quanto's `lock` file; torch's builder would poll it forever at the
    first quantized step. An old lock stops the run at once naming the file; a fresh one (another
    process building now) is waited for, with a warning. The CPU's own extension is never built
    (torch unpacks there), so its lock stops nothing; a GPU extension's does (one is registered
    here as quanto registers its CUDA kernels)."""
    gpu = extension.Extension("quanto_gpu_test", str(tmp_path / "gpu"), sources=[])
    monkeypatch.setitem(extension._extensions, gpu.name, gpu)
    cpu_lock = tmp_path / "cpu" / "lock"
    cpu_lock.parent.mkdir()
    monkeypatch.setattr(extension._extensions["quanto_cpp"], "build_directory", str(cpu_lock.parent))
    lock = tmp_path / "gpu" / "build" / "lock"
    lock.parent.mkdir(parents=True)
    old = time.time() - STALE_AFTER_S - 60
    for stale in (cpu_lock, lock):
        stale.touch()
        os.utime(stale, (old, old))
    model = torch.nn.Sequential(torch.nn.Linear(64, 64))
    with pytest.raises(UserInputError, match=str(lock)) as refused:
        quantize_model(model, "qint8")
    assert str(cpu_lock) not in str(refused.value)
    assert type(model[0]) is torch.nn.Linear  # refused before any layer changed

    lock.touch()  # fresh: another process is building right now
    with caplog.at_level("WARNING", logger="toolkit.memory.quanto_build"):
        assert quantize_model(model, "qint8") == ["0"]
    assert str(lock) in caplog.text and str(cpu_lock) not in caplog.text


@pytest.mark.parametrize("bits", [2, 4])
def test_packed_weights_unpack_on_the_cpu_without_building_quantos_extension(bits):
    """quanto packs 2- and 4-bit weights into bytes; on the CPU torch operations unpack them
    (toolkit/memory/quanto_build.py), value for value, and a quantized layer computes without
    quanto's C++ extension ever being compiled or loaded."""
    from optimum.quanto.tensor.packed import pack_weights

    model = torch.nn.Sequential(torch.nn.Linear(64, 32))
    quantize_model(model, f"qint{bits}")
    values = torch.randint(0, 2**bits, (48, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(bits))
    assert torch.equal(torch.ops.quanto.unpack(pack_weights(values, bits), bits)[:48], values)
    model(torch.randn(3, 64))  # the quantized forward unpacks
    assert extension._extensions["quanto_cpp"]._lib is None

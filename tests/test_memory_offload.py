"""Layer offloading (CPU to CPU here: the same code as CPU to GPU), compile and attention
settings, and that nothing patches torch functions globally."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from conftest import ARCH_OF_VERSION, copy_media, run_config, tiny_config
from network_helpers import load_transformer, perturb_adapters, step_loss, transformer_inputs
from numerics import assert_outputs_match

from toolkit.lora.network import Network, NetworkSettings
from toolkit.memory.offload import OffloadedLinear, offload_blocks, offload_share
from toolkit.memory.qtensor import inner_tensors, is_quantized_tensor, map_inner_tensors, tensor_nbytes
from toolkit.memory.quantize import quantize_model


def run_step(model_dir, qtype, network_type, offload_percent, dtype=torch.float32, checkpointing=True):
    transformer = load_transformer(model_dir, dtype)
    if qtype:
        quantize_model(transformer, qtype, include=("transformer_blocks.",))
    report = offload_blocks(transformer.transformer_blocks, offload_percent, "cpu") if offload_percent else None
    if checkpointing:
        transformer.enable_gradient_checkpointing()
    torch.manual_seed(0)  # peft draws lora_A from the global generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Network(transformer, NetworkSettings(type=network_type, rank=4, alpha=8), device=torch.device("cpu"))
    perturb_adapters(transformer)
    transformer.train()
    if report is not None:  # count this step's copies only (DoRA's set-up read the weights too)
        report.transfer.fetches = report.transfer.prefetches = report.transfer.reuses = 0
    video, audio = transformer(**transformer_inputs(dtype))
    (video.float().square().mean() + audio.float().square().mean()).backward()
    grads = {n: p.grad.clone() for n, p in transformer.named_parameters() if p.requires_grad}
    return video.detach().float(), audio.detach().float(), grads, report, transformer


@pytest.mark.parametrize(
    "qtype,network_type",
    [(None, "lora"), (None, "dora"), (None, "lokr"), ("qint8", "dora"), ("qfloat8", "lora"),
     ("torchao_int8", "lora"), ("torchao_float8", "dora")],
)
@pytest.mark.numerics
def test_offloaded_step_matches_resident_step(tiny_model_dir, qtype, network_type):
    video, audio, grads, _, _ = run_step(tiny_model_dir, qtype, network_type, 0)
    o_video, o_audio, o_grads, report, transformer = run_step(tiny_model_dir, qtype, network_type, 1.0)
    assert report.blocks == 2 and report.layers == 56
    # block swap: each weight crossed for the forward pass and for the checkpoint recomputation;
    # the backward pass reused the recomputed block's copies (no third copy)
    assert report.transfer.fetches == 2 * report.layers
    assert report.transfer.reuses > 0
    # offloaded weights are computed on from fresh copies (other memory than the loaded ones):
    # equal up to the kernels' summation order (tests/numerics.py)
    assert_outputs_match(o_video, video, "video output")
    assert_outputs_match(o_audio, audio, "audio output")
    assert grads.keys() == o_grads.keys()
    for name in grads:
        assert_outputs_match(o_grads[name], grads[name], f"gradient of {name}")
    offloaded = [m for m in transformer.modules() if isinstance(m, OffloadedLinear)]
    assert len(offloaded) == 56
    # block 0 started block 1's copies in forward; block 1's recomputation started block 0's
    assert report.transfer.prefetches >= 2 * 28 and all(layer._pending is None for layer in offloaded)
    # and nothing stays on the device after the backward pass
    assert all(layer._resident is None and not layer.hold for layer in offloaded)
    for layer in offloaded:
        assert "weight" not in layer._parameters and "weight" not in layer._buffers  # .to() never moves it
        assert is_quantized_tensor(layer.weight) == bool(qtype)  # quantized weights rest quantized


def test_offloaded_bf16_quantized_step_matches(tiny_model_dir):
    video, audio, grads, _, _ = run_step(tiny_model_dir, "qfloat8", "dora", 0, dtype=torch.bfloat16)
    o_video, o_audio, o_grads, _, _ = run_step(tiny_model_dir, "qfloat8", "dora", 1.0, dtype=torch.bfloat16)
    assert torch.equal(video, o_video) and torch.equal(audio, o_audio)
    assert all(torch.equal(grads[n], o_grads[n]) for n in grads)


def test_offload_share_and_partial_offload(tiny_model_dir):
    assert [offload_share(p, 48) for p in (0.0, 0.25, 0.5, 1.0)] == [0, 12, 24, 48]
    transformer = load_transformer(tiny_model_dir)
    report = offload_blocks(transformer.transformer_blocks, 0.5, "cpu")
    assert report.blocks == 1 and report.of_blocks == 2
    first, second = transformer.transformer_blocks
    assert isinstance(first.attn1.to_q, OffloadedLinear)
    assert not any(isinstance(m, OffloadedLinear) for m in second.modules())
    with torch.no_grad():
        step_loss(transformer, transformer_inputs(torch.float32))
    assert offload_blocks(transformer.transformer_blocks, 0.0, "cpu").layers == 0


@pytest.mark.parametrize("qtype", ["qfloat8", "qint8", "torchao_int8", "torchao_float8"])
def test_quantized_weight_moves_in_compact_form(tiny_model_dir, qtype):
    """What pinning and the CUDA copy do to a quantized weight: rebuild it from moved inner
    tensors; here `clone` stands in for the move."""
    transformer = load_transformer(tiny_model_dir, torch.bfloat16)
    quantize_model(transformer, qtype, include=("transformer_blocks.0.attn1.to_q",))
    weight = transformer.transformer_blocks[0].attn1.to_q.weight
    moved = map_inner_tensors(weight, torch.clone)
    assert type(moved) is type(weight) and moved.shape == weight.shape
    assert torch.equal(moved.dequantize(), weight.dequantize())
    assert tensor_nbytes(moved) < weight.numel() * 2  # smaller than the bf16 weight
    assert all(t.dtype in (torch.int8, torch.float8_e4m3fn, torch.float32, torch.bfloat16) for t in inner_tensors(moved))


def test_trainer_bf16_quantized_offloaded_dora_trains_and_samples(tiny_model_dir, synthetic_dir, tmp_path):
    """bf16 + quantized transformer and text encoder + layer offloading + DoRA (float32
    adapters): training steps and sampling run with no dtype error, and nothing patches torch."""
    data = copy_media(synthetic_dir, tmp_path / "data", ["clip_000.mp4"])
    cfg = tiny_config(
        tiny_model_dir, data, tmp_path / "out", name="mem", steps=2,
        **{"train.dtype": "bf16", "train.gradient_checkpointing": True, "network.type": "dora",
           "model.quantize": True, "model.qtype": "qfloat8", "model.quantize_te": True, "model.qtype_te": "qint8",
           "model.layer_offloading": True, "model.layer_offloading_transformer_percent": 0.5,
           "train.disable_sampling": False, "save.dtype": "bf16"},
    )
    proc = run_config(cfg)
    log = (proc.out.folder / "log.txt").read_text()
    assert "quantized 56 transformer Linear layers to qfloat8" in log
    assert "quantized 14 text encoder Linear layers to qint8" in log
    assert "layer offloading: 1/2 transformer blocks" in log
    assert sorted(p.name for p in (proc.out.folder / "samples").glob("*.mp4")) == ["000000002_00.mp4"]
    moved = [p for n, p in proc.model.transformer.named_parameters() if "lora_B" in n]
    assert moved and all(p.abs().sum() > 0 for p in moved)
    # dtypes are fixed where tensors are made, never by patching torch
    assert F.scaled_dot_product_attention is torch._C._nn.scaled_dot_product_attention
    assert F.linear is torch._C._nn.linear


@pytest.mark.parametrize("version", ["2.0", "2.5"])
def test_model_compile_runs_the_compiled_transformer(version, tiny_version_dir, synthetic_dir, tmp_path):
    """model.compile compiles the transformer in place (never a `unet`): the compiled call is
    what training runs, on every version (2.5 adds the keyframe and cross-timestep hooks), and
    its step matches the eager one. A counting backend stands in for inductor."""
    calls = []

    def counting_backend(graph_module, example_inputs):
        calls.append(len(graph_module.graph.nodes))
        return graph_module.forward

    backend = f"ltx2_test_counting_{version.replace('.', '')}"  # a registered name cannot be reused
    torch._dynamo.reset()
    torch._dynamo.register_backend(counting_backend, name=backend)
    data = copy_media(synthetic_dir, tmp_path / "data", ["clip_000.mp4"])
    common = {"model.arch": ARCH_OF_VERSION[version], "network.rank_dropout": 0.0,
              "datasets.0.caption_dropout_rate": 0.0}
    cfg = tiny_config(tiny_version_dir(version), data, tmp_path / "out", name="compiled", steps=1,
                      **common, **{"model.compile": True,
                                   "model.model_kwargs": {"compile_backend": backend}})
    try:
        proc = run_config(cfg)
    finally:
        torch._dynamo.reset()
    assert proc.model.transformer._compiled_call_impl is not None
    assert not hasattr(proc.model, "unet")
    assert calls, "the compiled transformer ran"
    assert f"transformer compiled (backend {backend})" in (proc.out.folder / "log.txt").read_text()
    eager = run_config(tiny_config(tiny_version_dir(version), data, tmp_path / "out", name="eager", steps=1,
                                   **common))
    assert eager.model.transformer._compiled_call_impl is None

    def loss(run) -> float:
        return json.loads((run.out.folder / "metrics.jsonl").read_text().splitlines()[0])["loss"]

    assert loss(proc) == pytest.approx(loss(eager), rel=1e-5, abs=1e-6)


def test_sdpa_backend_probe_and_cpu_attention_config():
    from toolkit.memory.attention import configure_attention, sdpa_backend_name

    assert configure_attention(torch.device("cpu"), torch.float32, 2, 16) is None  # only CUDA has switches
    assert sdpa_backend_name("cpu", torch.float32, 2, 16, masked=True) != "none"

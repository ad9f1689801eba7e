"""Saved LoRA / DoRA / LoKr files: diffusers loads LoRA and DoRA files and reproduces the
trainer's in-memory output; LoKr reloads exactly in our trainer and through diffusers'
`load_lora_adapter`; ComfyUI's DoRA reading of `dora_scale` gives the same weights;
`save.dtype` is respected."""

from __future__ import annotations

import pytest
import torch
from network_helpers import load_transformer, perturb_adapters, transformer_inputs
from safetensors import safe_open
from safetensors.torch import load_file

from toolkit.lora.network import ADAPTER_NAME, Network, NetworkSettings


def trained_network(model_dir, network_type, rank=4, alpha=8.0):
    """A network whose every adapter weight moved (as after training), and its output."""
    transformer = load_transformer(model_dir)
    torch.manual_seed(0)
    network = Network(transformer, NetworkSettings(type=network_type, rank=rank, alpha=alpha))
    perturb_adapters(transformer, scale=0.1)
    transformer.eval()
    with torch.no_grad():
        video, audio = transformer(**transformer_inputs(torch.float32))
    return network, transformer, (video, audio)


def outputs(transformer):
    transformer.eval()
    with torch.no_grad():
        return transformer(**transformer_inputs(torch.float32))


def assert_same(a, b, atol=1e-4):
    for x, y in zip(a, b, strict=True):
        assert (x - y).abs().max() <= atol, float((x - y).abs().max())


@pytest.fixture(scope="module")
def pipeline_loader(tiny_model_dir):
    from diffusers import LTX2Pipeline

    return lambda: LTX2Pipeline.from_pretrained(str(tiny_model_dir))


@pytest.mark.parametrize("fmt", ["comfyui", "diffusers"])
@pytest.mark.parametrize("network_type", ["lora", "dora"])
def test_file_loads_in_diffusers_and_matches_trainer(tiny_model_dir, pipeline_loader, tmp_path, network_type, fmt):
    network, _, ours = trained_network(tiny_model_dir, network_type)
    path = network.save(tmp_path / "net.safetensors", fmt=fmt, dtype=torch.float32)
    keys = set(load_file(str(path)))
    if network_type == "dora":
        assert any(k.endswith(".lora_magnitude_vector") for k in keys)
        assert any(k.endswith(".dora_scale") for k in keys) == (fmt == "comfyui")

    pipe = pipeline_loader()
    base = outputs(pipe.transformer)
    pipe.load_lora_weights(str(path))
    loaded = outputs(pipe.transformer)
    assert (loaded[0] - base[0]).abs().max() > 1e-3, "the file must change diffusers' output"
    assert_same(loaded, ours)
    layer = pipe.transformer.transformer_blocks[0].attn1.to_q
    assert bool(len(layer.lora_magnitude_vector)) == (network_type == "dora"), "diffusers built DoRA layers"


@pytest.mark.numerics
@pytest.mark.parametrize("fmt", ["comfyui", "diffusers"])
@pytest.mark.parametrize("network_type", ["lora", "dora", "lokr"])
def test_our_reload_equals_in_memory_network(tiny_model_dir, tmp_path, network_type, fmt):
    network, _, ours = trained_network(tiny_model_dir, network_type, alpha=2.0)
    path = network.save(tmp_path / "net.safetensors", fmt=fmt, dtype=torch.float32)
    fresh = load_transformer(tiny_model_dir)
    Network(fresh, NetworkSettings(type=network_type, rank=4, alpha=2.0)).load_file(path)
    assert_same(outputs(fresh), ours, atol=1e-5)


def test_lokr_diffusers_file_loads_with_load_lora_adapter(tiny_model_dir, pipeline_loader, tmp_path):
    """`LTX2Pipeline.load_lora_weights` rejects LoKr; the transformer's own
    `load_lora_adapter(..., prefix="transformer")` restores a diffusers-format LoKr file,
    whose alpha/rank scale is folded into lokr_w1."""
    network, _, ours = trained_network(tiny_model_dir, "lokr", alpha=2.0)
    path = network.save(tmp_path / "lokr.safetensors", fmt="diffusers", dtype=torch.float32)
    pipe = pipeline_loader()
    pipe.transformer.load_lora_adapter(str(path), prefix="transformer")
    assert_same(outputs(pipe.transformer), ours)


def test_comfyui_dora_scale_gives_the_dora_weight(tiny_model_dir, tmp_path):
    """ComfyUI merges DoRA as (W + ΔW) * dora_scale / ||W|| per output row (it divides by the
    base weight's norm); our dora_scale makes that equal DoRA's m / ||W + ΔW|| (W + ΔW)."""
    network, transformer, _ = trained_network(tiny_model_dir, "dora")
    state = network.export_state_dict("comfyui", torch.float32)
    layer = transformer.transformer_blocks[1].audio_ff.net[2]
    key = "diffusion_model.transformer_blocks.1.audio_ff.net.2."
    weight = layer.get_base_layer().weight.detach()
    delta = state[key + "lora_B.weight"] @ state[key + "lora_A.weight"]  # alpha folded: scale 1
    adapted = weight + delta
    comfy = adapted * (state[key + "dora_scale"] / (weight.norm(dim=1, keepdim=True) + torch.finfo(torch.float32).eps))
    magnitude = layer.lora_magnitude_vector[ADAPTER_NAME].weight.detach()
    dora = adapted * (magnitude / adapted.norm(dim=1)).view(-1, 1)
    assert state[key + "dora_scale"].shape == (weight.shape[0], 1)
    assert (comfy - dora).abs().max() < 1e-5


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_save_dtype_is_respected(tiny_model_dir, tmp_path, dtype):
    network, _, _ = trained_network(tiny_model_dir, "dora")
    path = network.save(tmp_path / "net.safetensors", fmt="comfyui", dtype=dtype)
    with safe_open(str(path), "pt") as handle:
        assert {handle.get_tensor(k).dtype for k in handle.keys()} == {dtype}
        assert handle.metadata()["ltx2_trainer.alpha_folded"] == "true"

"""LoRA files per LTX-2 version: ComfyUI keys with that version's original names, loaded by
diffusers' `LTX2Pipeline.load_lora_weights` into the same version's tiny model reproduce the
trainer's transformer AND connector outputs; the file records its version and a file of
another version is refused; original-named connector blocks are read, not dropped."""

from __future__ import annotations

import pytest
import torch
from network_helpers import load_transformer, perturb_adapters, transformer_inputs
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from extensions_built_in.diffusion_models.ltx2.lora_format.lora_keys import to_comfy_key
from extensions_built_in.diffusion_models.ltx2.lora_format.lora_read import from_comfy_state_dict
from toolkit.errors import UserInputError
from toolkit.lora.network import MODEL_VERSION_KEY, Network, NetworkSettings


def _connectors(model_dir):
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    connectors = LTX2TextConnectors.from_pretrained(str(model_dir), subfolder="connectors")
    return connectors.requires_grad_(False).eval()


def _connector_inputs(connectors):
    gen = torch.Generator().manual_seed(3)
    cfg = connectors.config
    hidden = torch.randn(1, 128, cfg.caption_channels * cfg.text_proj_in_factor, generator=gen)
    mask = torch.ones(1, 128, dtype=torch.long)
    mask[:, :100] = 0  # left padding
    return hidden, mask


def _outputs(transformer, connectors):
    # inference, as sampling runs it: no rank dropout (the LoRA layers peft adds to the
    # connectors start in training mode)
    transformer.eval()
    connectors.eval()
    with torch.no_grad():
        video, audio = transformer(**transformer_inputs(torch.float32))
        text_video, text_audio, _ = connectors(*_connector_inputs(connectors), padding_side="left")
    return [video, audio, text_video, text_audio]


def _trained(model_dir, version):
    transformer, connectors = load_transformer(model_dir), _connectors(model_dir)
    torch.manual_seed(0)
    network = Network(transformer, NetworkSettings(rank=4, alpha=8.0, model_version=version), connectors=connectors)
    perturb_adapters(transformer, scale=0.1)
    perturb_adapters(connectors, scale=0.1, seed=2)
    return network, _outputs(transformer, connectors)


@pytest.mark.numerics
@pytest.mark.parametrize("version,fmt", [("2.0", "comfyui"), ("2.3", "comfyui"), ("2.5", "comfyui"), ("2.5", "diffusers")])
def test_file_has_version_names_and_reproduces_in_diffusers(version, fmt, tiny_version_dir, tmp_path):
    from diffusers import LTX2Pipeline

    model_dir = tiny_version_dir(version)
    network, ours = _trained(model_dir, version)
    path = network.save(tmp_path / "net.safetensors", fmt=fmt, dtype=torch.float32)
    keys = set(load_file(str(path)))
    if fmt == "comfyui" and version == "2.0":
        assert "text_embedding_projection.aggregate_embed.lora_A.weight" in keys
        assert "text_encoders.text_embedding_projection.lora_A.weight" in keys  # ComfyUI's copy
    elif fmt == "comfyui":
        assert any(".to_gate_logits.lora_A" in k and k.startswith("diffusion_model.transformer_blocks.") for k in keys)
        assert "text_embedding_projection.video_aggregate_embed.lora_A.weight" in keys
        assert "text_embedding_projection.audio_aggregate_embed.lora_B.weight" in keys
        assert not any("text_proj_in" in k for k in keys), "connector projections use their original names"
    else:
        assert "connectors.video_text_proj_in.lora_A.weight" in keys
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata()[MODEL_VERSION_KEY] == version

    pipe = LTX2Pipeline.from_pretrained(str(model_dir))
    base = _outputs(pipe.transformer, pipe.connectors)
    pipe.load_lora_weights(str(path))
    loaded = _outputs(pipe.transformer, pipe.connectors)
    for index, (a, b, c) in enumerate(zip(loaded, ours, base, strict=True)):
        assert (a - c).abs().max() > 1e-3, f"output {index}: the file must change diffusers' output"
        assert (a - b).abs().max() <= 1e-4, (index, float((a - b).abs().max()))


def test_version_specific_original_names_round_trip(tiny_version_dir):
    """Every module of the 2.3 transformer (prompt_adaln, to_gate_logits, ...) maps to the
    original name and back through diffusers' own converter."""
    transformer = load_transformer(tiny_version_dir("2.3"))
    names = [n for n, _ in transformer.named_modules() if n]
    keys = {to_comfy_key(f"transformer.{n}.lora_A.weight"): n for n in names}
    assert "diffusion_model.prompt_adaln_single.linear.lora_A.weight" in keys
    assert "diffusion_model.audio_prompt_adaln_single.emb.timestep_embedder.linear_1.lora_A.weight" in keys
    back = from_comfy_state_dict({k: torch.zeros(1) for k in keys})
    assert set(back) == {f"transformer.{n}.lora_A.weight" for n in names}


def test_lora_of_another_version_is_refused(tiny_version_dir, tmp_path):
    network, _ = _trained(tiny_version_dir("2.3"), "2.3")
    path = network.save(tmp_path / "v23.safetensors", dtype=torch.float32)
    other = Network(load_transformer(tiny_version_dir("2.5")), NetworkSettings(rank=4, alpha=8.0, model_version="2.5"))
    with pytest.raises(UserInputError, match=r"LoRA for LTX-2\.3, but this run trains LTX-2\.5"):
        other.load_file(path)
    same = Network(load_transformer(tiny_version_dir("2.3")), NetworkSettings(rank=4, alpha=8.0, model_version="2.3"),
                   connectors=_connectors(tiny_version_dir("2.3")))
    same.load_file(path)  # the same version loads


def test_connector_blocks_in_original_names_are_read_not_dropped(tiny_version_dir, tmp_path):
    """diffusers drops `diffusion_model.video_embeddings_connector.transformer_1d_blocks.*`; our
    reader maps them into the connectors, so such a file (another trainer's) trains on from
    exactly the weights it holds."""
    model_dir = tiny_version_dir("2.3")
    network, ours = _trained(model_dir, "2.3")
    written = load_file(str(network.save(tmp_path / "ours.safetensors", dtype=torch.float32)))
    prefix = "text_embedding_projection.video_connector.transformer_blocks."
    renamed = {}
    for key, value in written.items():
        if key.startswith(prefix):
            key = "diffusion_model.video_embeddings_connector.transformer_1d_blocks." + key.removeprefix(prefix)
        renamed[key] = value
    assert any(k.startswith("diffusion_model.video_embeddings_connector.") for k in renamed)
    save_file(renamed, str(tmp_path / "original.safetensors"))

    transformer, connectors = load_transformer(model_dir), _connectors(model_dir)
    fresh = Network(transformer, NetworkSettings(rank=4, alpha=8.0, model_version="2.3"), connectors=connectors)
    fresh.load_file(tmp_path / "original.safetensors")
    for a, b in zip(_outputs(transformer, connectors), ours, strict=True):
        assert (a - b).abs().max() <= 1e-5

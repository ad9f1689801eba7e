"""What an LTX-2 LoRA is made of (extensions_built_in/diffusion_models/ltx2/lora_format/): the
layer list, each layer's module family derived from diffusers' own forward pass, the key
namings against diffusers' converter, and the version a set of layers implies."""

from __future__ import annotations

import pytest
import torch
from network_helpers import transformer_inputs

from extensions_built_in.diffusion_models.ltx2.lora_format.families import AUDIO, VIDEO, family_of
from extensions_built_in.diffusion_models.ltx2.lora_format.modules import (
    CONNECTOR_PROJECTIONS,
    TOP_LEVEL_LINEARS,
    implied_versions,
    is_lora_module,
)
from extensions_built_in.diffusion_models.ltx2.lora_format.namings import (
    COMFYUI,
    DIFFUSERS,
    LORA_A,
    MUSUBI,
    key_names,
    parse_key,
)


def _linears(module) -> list[str]:
    return [name for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)]


@pytest.fixture(scope="module")
def one_block(tiny_version_dir):
    """version -> (a one-block LTX-2 transformer, the version's connectors), randomly initialised."""
    from diffusers import LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    built = {}

    def get(version):
        if version not in built:
            folder = tiny_version_dir(version)
            config = dict(LTX2VideoTransformer3DModel.load_config(str(folder), subfolder="transformer"))
            config["num_layers"] = 1
            torch.manual_seed(0)
            transformer = LTX2VideoTransformer3DModel.from_config(config).eval()
            connectors = LTX2TextConnectors.from_pretrained(str(folder), subfolder="connectors").eval()
            built[version] = transformer, connectors
        return built[version]

    return get


def _streams_moved(model, layer, run) -> set[str]:
    """Which outputs move when `layer`'s weight is perturbed."""
    with torch.no_grad():
        before = run(model)
        weight = model.get_submodule(layer).weight
        saved = weight.clone()
        weight.add_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(1)) * weight.std().clamp_min(0.1))
        after = run(model)
        weight.copy_(saved)
    return {name for name, a, b in zip((VIDEO, AUDIO), before, after, strict=True) if not torch.equal(a, b)}


@pytest.mark.parametrize("version", ["2.0", "2.3"])
def test_each_layer_family_is_what_the_forward_pass_writes(one_block, version):
    """Derived, not assumed: with the streams isolated (no audio<->video attention) a layer moves
    only the stream it writes; a layer that acts only across the streams moves nothing there, and
    in the joint pass of a one-block model it moves exactly the streams it writes (the two
    cross-attentions read the streams as they were before either wrote)."""
    transformer, connectors = one_block(version)
    inputs = transformer_inputs(torch.float32)

    def isolated(model):
        return model(**inputs, isolate_modalities=True)

    def joint(model):
        return model(**inputs)

    derived = {}
    for layer in _linears(transformer):
        moved = _streams_moved(transformer, layer, isolated) or _streams_moved(transformer, layer, joint)
        derived[f"transformer.{layer}"] = moved
    tokens = connectors.config.video_connector_num_learnable_registers or 6  # 2.3: a multiple of the registers
    text = torch.randn(1, tokens, connectors.config.caption_channels * connectors.config.text_proj_in_factor)
    mask = torch.ones(1, tokens)
    for layer in _linears(connectors):
        derived[f"connectors.{layer}"] = _streams_moved(connectors, layer, lambda model: model(text, mask)[:2])
    assert all(derived.values()), "every layer moves some output"
    assert {m: set(family_of(m).writes) for m in derived} == derived
    names = {family_of(m).name for m in derived}
    assert {"video", "audio", "a2v", "v2a", "av-modulation"} <= names
    assert derived["transformer.transformer_blocks.0.video_to_audio_attn.to_v"] == {AUDIO}, "v2a writes audio"
    assert derived["transformer.transformer_blocks.0.audio_to_video_attn.to_v"] == {VIDEO}, "a2v writes video"


def test_every_linear_of_every_release_is_a_known_layer(tiny_version_dir):
    from diffusers import LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    seen_top, seen_projections = set(), set()
    for version in ("2.0", "2.3", "2.5"):
        folder = str(tiny_version_dir(version))
        with torch.device("meta"):
            transformer = LTX2VideoTransformer3DModel.from_config(
                LTX2VideoTransformer3DModel.load_config(folder, subfolder="transformer"))
            connectors = LTX2TextConnectors.from_config(LTX2TextConnectors.load_config(folder, subfolder="connectors"))
        layers = [f"transformer.{n}" for n in _linears(transformer)] + [f"connectors.{n}" for n in _linears(connectors)]
        assert all(is_lora_module(m) for m in layers), [m for m in layers if not is_lora_module(m)]
        seen_top |= {m.removeprefix("transformer.") for m in layers if m.startswith("transformer.")
                     and not m.startswith("transformer.transformer_blocks.")}
        seen_projections |= {m.removeprefix("connectors.") for m in layers if m.startswith("connectors.")
                             and m.endswith("proj_in")}
        shapes = {f"transformer.{n}": (m.out_features, m.in_features) for n, m in transformer.named_modules()
                  if isinstance(m, torch.nn.Linear)}
        shapes.update({f"connectors.{n}": (m.out_features, m.in_features) for n, m in connectors.named_modules()
                       if isinstance(m, torch.nn.Linear)})
        fits, _ = implied_versions(shapes)
        assert fits == (("2.0",) if version == "2.0" else ("2.3", "2.5")), "a whole model's layers name its release"
    assert set(TOP_LEVEL_LINEARS) == seen_top
    assert set(CONNECTOR_PROJECTIONS) == seen_projections
    assert not is_lora_module("transformer.transformer_blocks.0.attn.to_q"), "Flux's attention is no LTX-2 layer"


def test_block_layers_alone_cannot_tell_the_release():
    fits, why = implied_versions({"transformer.transformer_blocks.0.attn1.to_q": (32, 32)})
    assert fits == ("2.0", "2.3", "2.5") and "every LTX-2 release" in why
    fits, why = implied_versions({"transformer.time_embed.linear": (6 * 32, 32)})
    assert fits == ("2.0",)
    fits, _ = implied_versions({"transformer.caption_projection.linear_1": (32, 32),
                                "transformer.transformer_blocks.0.attn1.to_gate_logits": (2, 32)})
    assert fits == (), "2.0-only and 2.3-only layers together fit no release"


@pytest.mark.parametrize("version", ["2.0", "2.3"])
def test_names_round_trip_and_comfyui_names_are_the_ones_diffusers_reads(tiny_version_dir, version):
    """Every layer, named in each naming, reads back as itself; the ComfyUI names of transformer
    layers are the names diffusers' own converter maps back to them."""
    from diffusers import LTX2VideoTransformer3DModel
    from diffusers.loaders.lora_conversion_utils import _convert_non_diffusers_ltx2_lora_to_diffusers
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    folder = str(tiny_version_dir(version))
    with torch.device("meta"):
        transformer = LTX2VideoTransformer3DModel.from_config(
            LTX2VideoTransformer3DModel.load_config(folder, subfolder="transformer"))
        connectors = LTX2TextConnectors.from_config(LTX2TextConnectors.load_config(folder, subfolder="connectors"))
    layers = [f"transformer.{n}" for n in _linears(transformer)] + [f"connectors.{n}" for n in _linears(connectors)]
    for layer in layers:
        for naming in (COMFYUI, DIFFUSERS) + ((MUSUBI,) if not layer.endswith("proj_in") or "transformer." in layer else ()):
            keys = key_names(naming, layer, LORA_A, version)
            assert keys and all(parse_key(k).module == layer for k in keys), (naming, layer, keys)
        comfy = key_names(COMFYUI, layer, LORA_A, version)
        diffusers_view = _convert_non_diffusers_ltx2_lora_to_diffusers({k: None for k in comfy if k.startswith(
            "diffusion_model.")}) | _convert_non_diffusers_ltx2_lora_to_diffusers(
            {k: None for k in comfy if k.startswith("text_embedding_projection.")}, "text_embedding_projection")
        assert set(diffusers_view) == {f"{layer}.lora_A.weight"}, (layer, comfy)

"""LoRA files and ComfyUI: every layer a short tiny-model run trains (audio modules, a/v cross
attention, the text connectors with train_text_encoder) is applied by ComfyUI under its key
rules (extensions_built_in/diffusion_models/ltx2/lora_format/comfy_rules.py, read from ComfyUI's source) onto a module of the model
as ComfyUI holds it, named from the version's original checkpoint file; the keys ComfyUI
skips are only diffusers' copies; the save-time check warns about trained layers ComfyUI
would skip."""

from __future__ import annotations

import pytest
import torch
from conftest import ARCH_OF_VERSION, run_config, tiny_config
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from extensions_built_in.diffusion_models.ltx2.lora_format.comfy_check import comfyui_report, comfyui_save_notes
from extensions_built_in.diffusion_models.ltx2.lora_format.comfy_rules import (
    CLIP,
    MODEL,
    comfy_homes,
    comfy_load,
    comfy_state_keys,
    lora_key_map,
    text_encoder_runs_connectors,
)
from extensions_built_in.diffusion_models.ltx2.lora_format.lora_read import from_comfy_state_dict
from extensions_built_in.diffusion_models.ltx2.weights.keys_dit import connectors_key, transformer_key
from extensions_built_in.diffusion_models.ltx2.weights.layout import single_file_name
from toolkit.lora.network import Network

# 2.0 trains DoRA (ComfyUI reads its magnitude as dora_scale), 2.3 plain LoRA.
NETWORK = {"2.0": "dora", "2.3": "lora"}


@pytest.fixture(scope="module")
def runs(tiny_version_dir, clip_data, tmp_path_factory):
    """version -> a finished 2-step run with connectors trained, a checkpoint saved each step."""
    done = {}

    def get(version):
        if version not in done:
            cfg = tiny_config(tiny_version_dir(version), clip_data, tmp_path_factory.mktemp(f"comfy{version}"),
                              name="ck", steps=2, **{"train.train_text_encoder": True, "save.save_every": 1,
                                                     "network.type": NETWORK[version],
                                                     "model.arch": ARCH_OF_VERSION[version],
                                                     "datasets.0.window_variants": 1})
            done[version] = run_config(cfg)
        return done[version]

    return get


def _checkpoint_keys(tiny_files, version) -> list[str]:
    """Tensor names of the version's original single file (the file ComfyUI loads)."""
    with safe_open(str(tiny_files(version, "single") / single_file_name(version)), "pt") as handle:
        return list(handle.keys())


def _trained_targets(network, checkpoint_keys) -> set[tuple[str, str]]:
    """The ComfyUI weights (part, key) of every layer the network adapts (2.0 connector
    layers have two: the text encoder's copy, which runs, and the diffusion model's)."""
    keys = [transformer_key(f"{t}.weight") for t in network.targets]
    keys += [connectors_key(f"{t}.weight") for t in network.connector_targets]
    te_connectors = text_encoder_runs_connectors(checkpoint_keys)
    return {home for k in keys for home in comfy_homes(k, te_connectors)}


@pytest.mark.numerics
@pytest.mark.parametrize("version", ["2.0", "2.3"])
def test_every_trained_layer_of_a_saved_file_loads_in_comfyui(version, runs, tiny_files):
    proc = runs(version)
    path = proc.out.folder / "ck.safetensors"
    saved = load_file(str(path))
    checkpoint = _checkpoint_keys(tiny_files, version)
    model_keys, clip_keys = comfy_state_keys(checkpoint)
    load = comfy_load(saved, lora_key_map(model_keys, clip_keys))

    wanted = _trained_targets(proc.network, checkpoint)
    assert any(".audio_attn1." in k for _, k in wanted) and any(".video_to_audio_attn." in k for _, k in wanted)
    assert any(part == CLIP for part, _ in wanted) and any("_embeddings_connector." in k for _, k in wanted)
    # 2.0: ComfyUI's text encoder runs the connectors (the diffusion model's copy is patched too)
    assert any(p == CLIP and "_embeddings_connector." in k for p, k in wanted) == (version == "2.0")
    assert set(load.patched) == wanted, "each trained layer, and nothing else, is patched in ComfyUI"
    existing = {(MODEL, k) for k in model_keys} | {(CLIP, k) for k in clip_keys}
    assert set(load.patched) <= existing
    per_layer = {".lora_A.weight", ".lora_B.weight"} | ({".dora_scale"} if NETWORK[version] == "dora" else set())
    for target, keys in load.patched.items():
        base = keys[-1].removesuffix(".lora_A.weight")
        assert {k.removeprefix(base) for k in keys} == per_layer, (target, keys)  # one adapter, applied once

    # What ComfyUI skips ("lora key not loaded") is only what diffusers reads instead.
    skipped = load.not_loaded
    assert all(k.startswith("text_embedding_projection.") or k.endswith(".lora_magnitude_vector") for k in skipped)
    copies = from_comfy_state_dict({k: saved[k] for k in skipped if k.startswith("text_embedding_projection.")})
    connector_keys = {k for k in proc.network.peft_state_dict() if k.startswith("connectors.")}
    assert set(copies) == connector_keys, "diffusers' copy of every connector tensor"

    log = (proc.out.folder / "log.txt").read_text()
    assert log.count("ComfyUI: the text-side part of this LoRA") == 1, "said once, not per checkpoint"
    assert "ComfyUI will ignore" not in log


def test_save_check_warns_when_comfyui_would_skip_trained_layers(runs):
    """The writer's earlier names (connectors only under `text_embedding_projection.`) and a
    diffusers-format file: the check names what ComfyUI would leave out."""
    network = runs("2.3").network
    saved = list(network.saved_keys)
    connector_layers = len(network.connector_targets)
    try:
        network.saved_keys = [k for k in saved if not k.startswith(("text_encoders.", "lora_unet_"))]
        notes = comfyui_save_notes(network, "comfyui")
        assert notes[0][0] == "warning"
        assert f"ComfyUI will ignore {connector_layers} of the {len(network.targets) + connector_layers}" in notes[0][1]

        network.saved_keys = list(network.peft_state_dict())
        level, line = comfyui_save_notes(network, "diffusers")[0]
        assert level == "warning" and "save.format: diffusers" in line
    finally:
        network.saved_keys = saved


def test_file_reduced_to_comfyui_names_reloads_exactly(runs, tiny_version_dir, tiny_files, tmp_path):
    """Our reader understands the ComfyUI copies too: without diffusers' copies the file
    restores the same network."""
    from diffusers import LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    proc = runs("2.3")
    saved = load_file(str(proc.out.folder / "ck.safetensors"))
    missing, load = comfyui_report(saved, _checkpoint_keys(tiny_files, "2.3"), [])
    reduced = {k: v for k, v in saved.items() if k not in set(load.not_loaded)}
    assert len(reduced) < len(saved) and not any(k.startswith("text_embedding_projection.") for k in reduced)
    save_file(reduced, str(tmp_path / "comfy_only.safetensors"))

    model_dir = tiny_version_dir("2.3")
    transformer = LTX2VideoTransformer3DModel.from_pretrained(str(model_dir), subfolder="transformer")
    connectors = LTX2TextConnectors.from_pretrained(str(model_dir), subfolder="connectors")
    fresh = Network(transformer.requires_grad_(False), proc.network.settings, connectors=connectors.requires_grad_(False))
    fresh.load_file(tmp_path / "comfy_only.safetensors")
    mine, theirs = proc.network.peft_state_dict(), fresh.peft_state_dict()
    assert set(mine) == set(theirs)
    for key in mine:
        assert torch.allclose(mine[key].float(), theirs[key].float(), atol=1e-6), key

"""convert: every naming round-trips key for key with the same updates; files of other
trainers converted to ComfyUI names pass ComfyUI's key rules and load in diffusers with the
update their trainer meant."""

from __future__ import annotations

import pytest
import torch
from network_helpers import transformer_inputs
from numerics import assert_outputs_match
from safetensors import safe_open
from safetensors.torch import load_file

from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import read_lora
from extensions_built_in.diffusion_models.ltx2.lora_format.comfy_rules import comfy_load, comfy_state_keys, lora_key_map
from extensions_built_in.diffusion_models.ltx2.weights.layout import SINGLE_FILE
from toolkit.lora_tools import main


def _convert(source, naming, out, *extra) -> None:
    assert main(["convert", str(source), "--to", naming, "-o", str(out), *extra]) == 0


def _same_updates(a, b, atol=1e-6):
    first, second = read_lora(a), read_lora(b)
    assert set(first.modules) == set(second.modules)
    for module, adapter in first.modules.items():
        other = second.modules[module]
        assert adapter.kind == other.kind and torch.allclose(adapter.delta(), other.delta(), atol=atol), module
        for role in ("magnitude", "dora_scale"):
            if role in adapter.tensors and role in other.tensors:
                assert torch.allclose(adapter.tensors[role].reshape(-1), other.tensors[role].reshape(-1), atol=1e-5)


SOURCES = {
    "ours-lora-text": (lambda f: f.ours("lora", connectors=True), ["diffusers"]),
    "ours-dora": (lambda f: f.ours("dora"), ["diffusers", "musubi"]),
    "ours-lokr": (lambda f: f.ours("lokr", "diffusers"), ["comfyui", "musubi"]),
    "musubi-lora": (lambda f: f.musubi("lora").path, ["comfyui", "diffusers"]),
    "musubi-lokr": (lambda f: f.musubi("lokr").path, ["comfyui", "diffusers"]),
}


@pytest.mark.parametrize("name", list(SOURCES))
def test_convert_round_trips_key_for_key(lora_files, tmp_path, name):
    make, targets = SOURCES[name]
    source = make(lora_files)
    naming = read_lora(source).naming
    base = ["--base", str(lora_files.model_dir)]  # a DoRA coming back to ComfyUI names needs dora_scale
    for target in targets:
        there, back = tmp_path / f"to_{target}.safetensors", tmp_path / f"back_from_{target}.safetensors"
        _convert(source, target, there)
        assert read_lora(there).naming == target
        _convert(there, naming, back, *base)
        assert set(load_file(str(back))) == set(load_file(str(source))), (target, "same keys")
        _same_updates(source, back)
        _same_updates(source, there)


def test_musubi_names_no_text_projection(lora_files, tmp_path, capsys):
    assert main(["convert", str(lora_files.ours("lora", connectors=True)), "--to", "musubi",
                 "-o", str(tmp_path / "m.safetensors")]) == 2
    assert "musubi-tuner has no name for the text projection" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_foreign_lora_in_comfyui_names_comes_back_with_its_own_keys(lora_files, tmp_path):
    """ai-toolkit's and ltx-trainer's LoRAs already use ComfyUI's names: through diffusers' names
    and back they keep every key and tensor."""
    for foreign in (lora_files.ai_toolkit("lora"), lora_files.ltx_trainer()):
        there, back = tmp_path / "d.safetensors", tmp_path / "c.safetensors"
        _convert(foreign.path, "diffusers", there, "--overwrite")
        _convert(there, "comfyui", back, "--overwrite")
        original, returned = load_file(str(foreign.path)), load_file(str(back))
        assert set(returned) == set(original) and all(torch.equal(returned[k], original[k]) for k in original)


def test_dora_needs_the_base_model_for_comfyuis_dora_scale(lora_files, tmp_path, capsys):
    source = lora_files.ai_toolkit("dora").path
    assert main(["convert", str(source), "--to", "comfyui", "-o", str(tmp_path / "c.safetensors")]) == 2
    assert "pass --base MODEL" in capsys.readouterr().err


def _checkpoint_keys(tiny_files) -> list[str]:
    with safe_open(str(tiny_files("2.3", "single") / SINGLE_FILE["2.3"]), "pt") as handle:
        return list(handle.keys())


def _outputs(transformer):
    with torch.no_grad():
        return transformer(**transformer_inputs(torch.float32))


@pytest.mark.numerics
@pytest.mark.filterwarnings("ignore:It seems like you are using a DoRA checkpoint")
@pytest.mark.parametrize("name", ["musubi-lora", "musubi-dora", "ai-toolkit-dora", "ltx-trainer", "musubi-lokr",
                                  "ai-toolkit-lokr"])
def test_converted_foreign_files_pass_comfyui_rules_and_load_in_diffusers(lora_files, tiny_files, tmp_path, name):
    source, _, kind = name.rpartition("-")
    foreign = lora_files.ltx_trainer() if name == "ltx-trainer" else getattr(lora_files, source.replace("-", "_"))(kind)
    comfy = tmp_path / "comfy.safetensors"
    _convert(foreign.path, "comfyui", comfy, "--base", str(lora_files.model_dir))

    keys = list(load_file(str(comfy)))
    model_keys, clip_keys = comfy_state_keys(_checkpoint_keys(tiny_files))
    load = comfy_load(keys, lora_key_map(model_keys, clip_keys))
    wanted = {f"diffusion_model.{_original(path)}.weight" for path in foreign.deltas}
    assert wanted <= set(model_keys)
    assert {key for _, key in load.patched} == wanted, "every layer of the file patched in ComfyUI, nothing else"
    assert all(k.endswith(".lora_magnitude_vector") for k in load.not_loaded), "only diffusers' DoRA copy skipped"

    expected = _outputs(foreign.apply(lora_files.transformer))
    pipe = lora_files.pipeline()
    try:
        if kind == "lokr":  # diffusers reads LoKr only through the transformer, in its own names
            diffusers_file = tmp_path / "diffusers.safetensors"
            _convert(foreign.path, "diffusers", diffusers_file)
            pipe.transformer.load_lora_adapter(str(diffusers_file), prefix="transformer")
        else:
            pipe.load_lora_weights(str(comfy))
        got = _outputs(pipe.transformer)
    finally:
        pipe.unload_lora_weights()
    assert (expected[0] - _outputs(lora_files.transformer)[0]).abs().max() > 1e-3
    for stream, a, b in zip(("video", "audio"), got, expected, strict=True):  # adapter vs merged weights
        assert_outputs_match(a, b, f"{name}: {stream}")


def _original(path: str) -> str:
    from lora_tool_files import original_name

    return original_name(path)


def test_comfyuis_dora_reading_of_a_converted_file_gives_the_dora_weight(lora_files, tiny_files, tmp_path):
    """ComfyUI merges (W + ΔW) * dora_scale / ||W|| per row; from a converted ai-toolkit DoRA that
    is the weight DoRA means (the base read from the original single file this time)."""
    foreign = lora_files.ai_toolkit("dora")
    comfy = tmp_path / "comfy.safetensors"
    _convert(foreign.path, "comfyui", comfy, "--base", str(tiny_files("2.3", "single") / SINGLE_FILE["2.3"]))
    state = load_file(str(comfy))
    for path in list(foreign.deltas)[:6]:
        stem = f"diffusion_model.{_original(path)}."
        weight = lora_files.transformer.get_submodule(path).weight.float()
        adapted = weight + state[stem + "lora_B.weight"] @ state[stem + "lora_A.weight"]
        comfy_weight = adapted * (state[stem + "dora_scale"] / weight.norm(dim=1, keepdim=True))
        dora = adapted * (foreign.magnitudes[path] / adapted.norm(dim=1)).reshape(-1, 1)
        assert (comfy_weight - dora).abs().max() < 1e-5, path

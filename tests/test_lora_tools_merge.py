"""merge and resize: LoRAs merge exactly by concatenated ranks (diffusers gives the same output
as loading both at their strengths); a LoKr meeting another adapter merges by SVD to --rank with
the optimal error reported; files of different versions and DoRAs are refused by name; resize
keeps the best rank-R update and reports the energy kept per module family."""

from __future__ import annotations

import json

import pytest
import torch
from lora_tool_files import ltx_trainer_file, pick_layers
from network_helpers import load_transformer, transformer_inputs
from numerics import assert_outputs_match

from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import read_lora
from extensions_built_in.diffusion_models.ltx2.lora_format.families import family_of
from toolkit.lora_tools import main


def _run(capsys, *args) -> dict:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _outputs(transformer):
    with torch.no_grad():
        return transformer(**transformer_inputs(torch.float32))


@pytest.mark.numerics
@pytest.mark.filterwarnings("ignore:Already found a `peft_config`")
def test_lora_merge_is_exact_and_equals_both_loaded_in_diffusers(lora_files, tmp_path, capsys):
    first, second = lora_files.ours("lora"), lora_files.ltx_trainer().path
    out = tmp_path / "merged.safetensors"
    result = _run(capsys, "merge", f"{first}:1.0", f"{second}:0.5", "-o", str(out))
    assert result["exact"] and result["ranks"] == [8] and result["relative_error"] < 1e-6
    merged, a, b = read_lora(out), read_lora(first), read_lora(second)
    for module, adapter in merged.modules.items():
        assert torch.allclose(adapter.delta(), a.modules[module].delta() + 0.5 * b.modules[module].delta(), atol=1e-6)

    pipe = lora_files.pipeline()
    try:
        pipe.load_lora_weights(str(first), adapter_name="a")
        pipe.load_lora_weights(str(second), adapter_name="b")
        pipe.set_adapters(["a", "b"], [1.0, 0.5])
        both = _outputs(pipe.transformer)
    finally:
        pipe.unload_lora_weights()
    try:
        pipe.load_lora_weights(str(out))
        one = _outputs(pipe.transformer)
    finally:
        pipe.unload_lora_weights()
    for stream, x, y in zip(("video", "audio"), one, both, strict=True):
        assert_outputs_match(x, y, f"merged file vs both files: {stream}")


def test_merge_with_a_lokr_goes_through_svd_with_the_optimal_error(lora_files, tmp_path, capsys):
    lora, lokr = lora_files.ours("lora"), lora_files.musubi("lokr").path
    out = tmp_path / "merged.safetensors"
    assert main(["merge", str(lora), f"{lokr}:0.7", "-o", str(out)]) == 2
    assert "give --rank R to merge it by SVD" in capsys.readouterr().err and not out.exists()

    rank = 6
    result = _run(capsys, "merge", str(lora), f"{lokr}:0.7", "-o", str(out), "--rank", str(rank))
    merged, a, b = read_lora(out), read_lora(lora), read_lora(lokr)
    sums: dict[str, list[float]] = {}
    for module, adapter in merged.modules.items():
        exact = a.modules[module].delta() + 0.7 * b.modules[module].delta()
        values = torch.linalg.svdvals(exact.double())
        optimal = float(values[rank:].square().sum().sqrt())
        error = float((adapter.delta().double() - exact.double()).norm())
        assert adapter.rank <= rank and error == pytest.approx(optimal, rel=1e-4, abs=1e-6), module
        family = sums.setdefault(family_of(module).name, [0.0, 0.0])
        family[0] += error**2
        family[1] += float(exact.double().square().sum())
    for name, (diff, total) in sums.items():
        assert result["families"][name]["relative_error"] == pytest.approx((diff / total) ** 0.5, rel=1e-4)
        assert result["families"][name]["svd_layers"] == result["families"][name]["layers"]
    assert 0 < result["relative_error"] < 1 and not result["exact"]


def test_merge_refuses_files_of_different_versions_and_doras(lora_files, tiny_version_dir, tmp_path, capsys):
    older = load_transformer(tiny_version_dir("2.0"))
    old = ltx_trainer_file(tmp_path / "ltx20.safetensors", pick_layers(older, top_level=("caption_projection.linear_1",)))
    newer = lora_files.ours("lora")
    out = tmp_path / "m.safetensors"
    assert main(["merge", str(old.path), str(newer), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "refused: the files are for different LTX-2 versions" in err
    assert "'ltx20.safetensors' is for LTX-2.0" in err and f"'{newer.name}' is for LTX-2.3" in err
    assert main(["merge", str(lora_files.ours("dora")), str(newer), "-o", str(out)]) == 2
    assert "is a DoRA: its magnitude vector rescales whole weight rows" in capsys.readouterr().err
    assert not out.exists()


def test_resize_keeps_the_best_rank_r_update_and_reports_energy_per_family(lora_files, tmp_path, capsys):
    for source, rank in ((lora_files.ours("lora"), 2), (lora_files.musubi("lokr").path, 3)):
        out = tmp_path / f"{source.stem}_small.safetensors"
        result = _run(capsys, "resize", str(source), "--rank", str(rank), "-o", str(out))
        before, after = read_lora(source), read_lora(out)
        assert after.kinds == ["LoRA"] and all(a.rank <= rank for a in after.modules.values())
        kept: dict[str, list[float]] = {}
        for module, adapter in after.modules.items():
            values = torch.linalg.svdvals(before.modules[module].delta().double())
            error = float((adapter.delta().double() - before.modules[module].delta().double()).norm())
            assert error == pytest.approx(float(values[rank:].square().sum().sqrt()), rel=1e-4, abs=1e-6), module
            family = kept.setdefault(family_of(module).name, [0.0, 0.0])
            family[0] += float(values[:rank].square().sum())
            family[1] += float(values.square().sum())
        assert {n: r["retained"] for n, r in result["families"].items()} == pytest.approx(
            {n: k / t for n, (k, t) in kept.items()}, rel=1e-5)
        assert all(r["retained"] < 1 for r in result["families"].values())


def test_resizing_a_comfyui_dora_needs_the_base_and_keeps_comfyuis_weight_right(lora_files, tmp_path, capsys):
    source = lora_files.ours("dora")
    out = tmp_path / "small.safetensors"
    assert main(["resize", str(source), "--rank", "2", "-o", str(out)]) == 2
    assert "pass --base MODEL" in capsys.readouterr().err
    _run(capsys, "resize", str(source), "--rank", "2", "-o", str(out), "--base", str(lora_files.model_dir))
    resized = read_lora(out)
    for module, adapter in list(resized.modules.items())[:6]:
        weight = lora_files.transformer.get_submodule(module.removeprefix("transformer.")).weight.float()
        adapted = weight + adapter.delta()
        comfy = adapted * (adapter.tensors["dora_scale"].float() / weight.norm(dim=1, keepdim=True))
        dora = adapted * (adapter.tensors["magnitude"].float() / adapted.norm(dim=1)).reshape(-1, 1)
        assert (comfy - dora).abs().max() < 1e-5 and adapter.rank == 2

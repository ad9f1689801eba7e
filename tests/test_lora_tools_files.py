"""lora_tools reads any trainer's LTX-2 LoRA (this trainer's, ai-toolkit's, musubi-tuner's,
ltx-trainer's) and says what it is; what it says diffusers will load is what diffusers loads;
anything that is not an LTX-2 LoRA is refused with one line and exit 2; no tool overwrites its
input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from extensions_built_in.diffusion_models.ltx2.lora_files.loaders import diffusers_report
from extensions_built_in.diffusion_models.ltx2.lora_files.lora_file import read_lora
from toolkit.lora_tools import main

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _inspect(path, capsys) -> dict:
    assert main(["inspect", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# (file maker, naming, producer, network type, versions, version from metadata)
FILES = {
    "ours-lora-comfyui": (lambda f: f.ours("lora"), "comfyui", "this trainer", "LoRA", ["2.3"], True),
    "ours-dora-diffusers": (lambda f: f.ours("dora", "diffusers"), "diffusers", "this trainer", "DoRA", ["2.3"], True),
    "musubi-lora": (lambda f: f.musubi("lora").path, "musubi", "musubi-tuner", "LoRA", ["2.3"], True),
    "musubi-lokr": (lambda f: f.musubi("lokr").path, "musubi", "musubi-tuner", "LoKr", ["2.3"], True),
    "ai-toolkit-dora": (lambda f: f.ai_toolkit("dora").path, "comfyui", "ai-toolkit", "DoRA", ["2.3", "2.5"], False),
    "ai-toolkit-lokr": (lambda f: f.ai_toolkit("lokr").path, "comfyui", "ai-toolkit", "LoKr", ["2.3", "2.5"], False),
    "ltx-trainer": (lambda f: f.ltx_trainer().path, "comfyui", "ltx-trainer / Lightricks", "LoRA", ["2.3", "2.5"], False),
}


@pytest.mark.parametrize("name", list(FILES))
def test_inspect_reads_every_trainers_file(lora_files, capsys, name):
    make, naming, producer, kind, versions, from_metadata = FILES[name]
    found = _inspect(make(lora_files), capsys)
    assert found["naming"] == naming and found["producer"].startswith(producer)
    assert found["network"] == kind and found["version"]["versions"] == versions
    assert found["version"]["reason"].startswith("metadata") == from_metadata
    families = {f["family"]: f for f in found["families"]}
    assert set(families) == {"video", "audio", "a2v", "v2a"}, "two blocks: every per-block family"
    assert found["streams"]["video"] == families["video"]["layers"] + families["a2v"]["layers"]
    assert found["strip_audio"]["removed_families"] == "audio, v2a" and found["split"]["possible"]
    if name == "musubi-lora":
        assert families["video"]["alphas"] == "2.0" and families["video"]["scale"] == "0.5", "alpha 2 / rank 4"
        assert found["comfyui"]["applied"] == 0, "ComfyUI has no name lora_unet_model_... (musubi ships a converter)"
    if name == "ours-lora-comfyui":
        assert found["comfyui"]["applied"] == found["layers"] and not found["comfyui"]["not_loaded"]
    if name == "ai-toolkit-dora":
        assert found["diffusers"]["refused"], "diffusers refuses '.magnitude' (no 'lora' in the key)"
        assert len(found["comfyui"]["not_loaded"]) == found["layers"], "ComfyUI skips every .magnitude"
    assert bool(found["metadata"]) == (name != "ltx-trainer"), "the training metadata is shown (ltx-trainer has none)"


@pytest.mark.parametrize("maker", ["musubi_lora", "musubi_lokr", "ai_toolkit_dora", "ai_toolkit_lokr", "ltx_trainer"])
def test_read_updates_are_the_trainers_updates(lora_files, maker):
    """Scales folded as each trainer applies them: musubi alpha / rank, LyCORIS LoKr alpha / the
    decomposed factor's rank, ai-toolkit and ltx-trainer scale 1."""
    source, _, kind = maker.rpartition("_")
    foreign = lora_files.ltx_trainer() if maker == "ltx_trainer" else getattr(lora_files, source)(kind)
    lora = read_lora(foreign.path)
    assert set(lora.modules) == {f"transformer.{p}" for p in foreign.deltas}
    for path, delta in foreign.deltas.items():
        adapter = lora.modules[f"transformer.{path}"]
        assert torch.allclose(adapter.delta(), delta, atol=1e-6), path
        if path in foreign.magnitudes:
            assert torch.equal(adapter.tensors["magnitude"].reshape(-1), foreign.magnitudes[path])


@pytest.mark.parametrize("name", list(FILES) + ["ours-lokr-diffusers", "ours-text"])
def test_what_inspect_says_diffusers_loads_is_what_diffusers_loads(lora_files, name):
    from diffusers import LTX2Pipeline

    if name == "ours-lokr-diffusers":
        path = lora_files.ours("lokr", "diffusers")
    elif name == "ours-text":
        path = lora_files.ours("dora", connectors=True)
    else:
        path = FILES[name][0](lora_files)
    lora = read_lora(path)
    ours = diffusers_report([k for ks in lora.keys.values() for k in ks])
    state = LTX2Pipeline.lora_state_dict(str(path))
    refused = not all("lora" in k for k in state)
    assert bool(ours.refused) == refused
    if not refused:
        theirs = {k for k in state if k.startswith(("transformer.", "connectors."))}
        assert set(ours.loaded) == theirs
        assert len(ours.loaded) + len(ours.dropped) >= len(theirs)


def _flux_lora(path):
    save_file({"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": torch.zeros(4, 8),
               "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": torch.zeros(4, 8)}, str(path))


def _ltx_video_1_lora(path):
    stem = "transformer.transformer_blocks.0.attn1.to_q"
    save_file({f"{stem}.lora_A.weight": torch.zeros(4, 2048), f"{stem}.lora_B.weight": torch.zeros(2048, 4)}, str(path))


BAD = {
    "missing": (lambda p: p, "the file does not exist"),
    "folder": (lambda p: (p.mkdir(), p)[1], "it is a folder"),
    "text": (lambda p: (p.write_text("not a tensor file"), p)[1], "not a readable .safetensors file"),
    "other model's LoRA": (lambda p: (_flux_lora(p), p)[1], "belong to no LTX-2 layer"),
    "empty": (lambda p: (save_file({}, str(p)), p)[1], "holds no tensors"),
    "LTX-Video 1 LoRA": (lambda p: (_ltx_video_1_lora(p), p)[1], "a LoRA for LTX-Video 1.x"),
}


@pytest.mark.parametrize("tool", ["inspect", "strip-audio", "split", "convert", "merge", "resize"])
@pytest.mark.parametrize("bad", list(BAD))
def test_a_file_that_is_not_an_ltx2_lora_is_refused_in_one_line(lora_files, tmp_path, capsys, tool, bad):
    make, reason = BAD[bad]
    path = make(tmp_path / "bad.safetensors")
    args = {"inspect": [str(path)], "strip-audio": [str(path)], "split": [str(path)],
            "convert": [str(path), "--to", "diffusers"], "resize": [str(path), "--rank", "2"],
            "merge": [str(lora_files.ltx_trainer().path), str(path), "-o", str(tmp_path / "m.safetensors")]}[tool]
    assert main([tool] + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path}: not an LTX-2 LoRA: " in err[0] and reason in err[0], err
    assert all(p.name == "bad.safetensors" for p in tmp_path.iterdir()), "nothing written"


def test_the_command_line_refuses_a_model_file_with_exit_2_and_one_line(lora_files):
    weights = lora_files.model_dir / "transformer" / "diffusion_pytorch_model.safetensors"
    done = subprocess.run([sys.executable, "-m", "toolkit.lora_tools", "inspect", str(weights)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.strip().splitlines() == [
        f"lora_tools inspect: {weights}: not an LTX-2 LoRA: it holds no LoRA or LoKr tensors "
        f"(230 tensors, e.g. 'audio_proj_in.bias'): a model or other weights file"]


def test_no_tool_overwrites_its_input(lora_files, tmp_path, capsys):
    source = tmp_path / "mine.safetensors"
    source.write_bytes(lora_files.ours("lora").read_bytes())
    before = source.read_bytes()
    for args in (["convert", str(source), "--to", "comfyui", "-o", str(source), "--overwrite"],
                 ["resize", str(source), "--rank", "2", "-o", str(source), "--overwrite"],
                 ["strip-audio", str(source), "-o", str(tmp_path / "." / "mine.safetensors"), "--overwrite"],
                 ["merge", str(source), str(lora_files.ltx_trainer().path), "-o", str(source), "--overwrite"]):
        assert main(args) == 2
        assert "never overwrite their input" in capsys.readouterr().err
    assert source.read_bytes() == before
    assert main(["strip-audio", str(source)]) == 0
    assert main(["strip-audio", str(source)]) == 2, "an existing output needs --overwrite"
    assert "already exists" in capsys.readouterr().err
    assert main(["strip-audio", str(source), "--overwrite"]) == 0
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.safetensors", "mine_noaudio.safetensors"], \
        "atomic writes leave no temp files"

"""Original LTX-2 weight files: write tiny 2.0/2.3/2.5 sets, load them back, compare; errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from numerics import assert_outputs_match
from safetensors import safe_open
from safetensors.torch import save_file
from tiny_family import VERSIONS, build_family, forward_outputs, tokenizer_files

from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError
from extensions_built_in.diffusion_models.ltx2.weights.layout import SPLIT_FILES_25
from extensions_built_in.diffusion_models.ltx2.weights.load import load_components
from extensions_built_in.diffusion_models.ltx2.weights.resolve import resolve_model_files
from extensions_built_in.diffusion_models.ltx2.weights.write import write_single_file, write_split_files
from toolkit.errors import UserInputError


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """version -> (component modules, single file); plus the 2.5 split pack under 'split'."""
    root = tmp_path_factory.mktemp("model_files")
    out = {}
    for version in VERSIONS:
        parts = build_family(version, seed=int(version[-1]))
        out[version] = (parts, write_single_file(parts, version, root / f"ltx-{version}.safetensors"))
    parts25 = out["2.5"][0]
    out["split"] = write_split_files(parts25, "2.5", root / "comfy" / "models", tokenizer_files())
    return out


def _keys(path: Path) -> set[str]:
    with safe_open(str(path), framework="pt") as f:
        return set(f.keys())


def _assert_same(original, loaded, component, version):
    a, b = original.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    differing = [k for k in a if a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k])]
    assert not differing, f"{version} {component}: {differing[:5]}"
    # the weights are bit-identical; their outputs agree up to the CPU kernels' summation order
    # (the file's tensors sit in other memory than the originals: tests/numerics.py)
    for i, (x, y) in enumerate(zip(forward_outputs(component, loaded, version),
                                   forward_outputs(component, original, version), strict=True)):
        assert_outputs_match(x, y, f"{version} {component} output {i}")


@pytest.mark.numerics
@pytest.mark.parametrize("version", VERSIONS)
def test_single_file_round_trip(written, version):
    parts, path = written[version]
    loaded = load_components(version, {"checkpoint": path})  # configs from the file's metadata
    assert set(loaded) == {"transformer", "connectors", "vae", "audio_vae", "vocoder"}
    for component, module in loaded.items():
        assert type(module) is type(parts[component])
        _assert_same(parts[component], module, component, version)


@pytest.mark.numerics
def test_split_files_round_trip_with_tokenizer(written):
    parts, _ = written["2.5"]
    files = written["split"]
    assert {role: p.relative_to(p.parents[1]).as_posix() for role, p in files.items()} == SPLIT_FILES_25
    loaded = load_components("2.5", files)
    for component in ("transformer", "connectors", "vae", "audio_vae", "vocoder", "text_encoder"):
        _assert_same(parts[component], loaded[component], component, "2.5")
    ids = loaded["tokenizer"]("a man says hello")["input_ids"]
    assert ids[0] == loaded["tokenizer"].bos_token_id and len(ids) == 5  # BOS added, then 4 words


def test_original_names_per_version(written):
    """Names the Lightricks files use; they differ from diffusers' in each version's own way."""
    k20, k23, k25 = (_keys(written[v][1]) for v in VERSIONS)
    dit = "model.diffusion_model."
    for keys in (k20, k23, k25):
        assert {dit + "adaln_single.linear.weight", dit + "patchify_proj.weight",
                dit + "av_ca_a2v_gate_adaln_single.linear.weight",
                dit + "transformer_blocks.0.attn1.q_norm.weight",
                dit + "transformer_blocks.0.scale_shift_table_a2v_ca_video",
                dit + "video_embeddings_connector.transformer_1d_blocks.0.attn1.k_norm.weight",
                "vae.per_channel_statistics.mean-of-means", "audio_vae.per_channel_statistics.std-of-means",
                "vae.encoder.down_blocks.8.res_blocks.0.conv1.conv.weight"} <= keys
    # 2.0: shared text projection, caption projection in the DiT, HiFi-GAN vocoder, 3 decoder stages
    assert {"text_embedding_projection.aggregate_embed.weight", dit + "caption_projection.linear_1.weight",
            "vocoder.conv_pre.weight", "vocoder.ups.0.weight", "vocoder.resblocks.0.convs1.0.weight",
            "vae.decoder.up_blocks.6.res_blocks.0.conv1.conv.weight"} <= k20
    assert not any("up_blocks.7" in k or "prompt_adaln" in k for k in k20)
    for keys in (k23, k25):  # prompt AdaLN, gates, per-modality projection, BWE vocoder, 4 decoder stages
        assert {dit + "prompt_adaln_single.linear.weight", dit + "audio_prompt_adaln_single.linear.weight",
                dit + "transformer_blocks.0.attn2.to_gate_logits.weight",
                dit + "transformer_blocks.0.prompt_scale_shift_table",
                "text_embedding_projection.video_aggregate_embed.bias",
                "text_embedding_projection.audio_aggregate_embed.weight",
                "vae.decoder.up_blocks.7.conv.conv.weight", "vae.decoder.up_blocks.8.res_blocks.0.conv1.conv.weight",
                "vae.decoder.last_time_embedder.timestep_embedder.linear_1.weight", "vae.decoder.last_scale_shift_table",
                "vocoder.vocoder.conv_pre.weight", "vocoder.vocoder.act_post.act.alpha",
                "vocoder.bwe_generator.ups.0.weight", "vocoder.mel_stft.mel_basis",
                "vocoder.vocoder.resblocks.0.acts1.0.downsample.lowpass.filter"} <= keys
        assert not any(".caption_projection." in k for k in keys)
    assert dit + "transformer_blocks.0.ff.net.0.proj.bias" in k23
    assert dit + "transformer_blocks.0.ff.net.0.proj.bias" not in k25  # 2.5: bias-free video FFN
    assert dit + "transformer_blocks.0.audio_ff.net.0.proj.bias" in k25
    assert dit + "keyframes_abs_pos_embedding" in k25 and dit + "keyframes_abs_pos_embedding" not in k23


def test_diffusers_reads_our_20_file_the_same(written, tmp_path):
    """diffusers' own single-file conversion (2.0) gives the very same modules: the naming is the real one."""
    from diffusers.loaders.single_file_utils import convert_ltx2_audio_vae_to_diffusers
    from safetensors.torch import load_file

    parts, path = written["2.0"]
    for component in ("transformer", "vae"):
        parts[component].save_config(tmp_path / component)
        theirs = type(parts[component]).from_single_file(
            str(path), config=str(tmp_path / component), local_files_only=True, torch_dtype=torch.float32)
        _assert_same(parts[component], theirs, component, "2.0")
    # the audio VAE class has no from_single_file in diffusers 0.42: use its conversion helper
    audio = {k: v for k, v in load_file(str(path)).items() if k.startswith("audio_vae.")}
    converted = convert_ltx2_audio_vae_to_diffusers(audio)
    assert converted.keys() == parts["audio_vae"].state_dict().keys()
    assert all(torch.equal(converted[k], v) for k, v in parts["audio_vae"].state_dict().items())


def test_configs_argument_wins_over_metadata(written, tmp_path):
    parts, path = written["2.0"]
    # a file without our metadata, as Lightricks ships it: the configs must come from the caller
    bare = tmp_path / "bare.safetensors"
    with safe_open(str(path), framework="pt") as f:
        save_file({k: f.get_tensor(k) for k in f.keys()}, str(bare))
    with pytest.raises(ModelFileError, match=r"transformer \(DiT\): no diffusers config.*bare\.safetensors"):
        load_components("2.0", {"checkpoint": bare})
    configs = {c: dict(parts[c].config) for c in ("transformer", "connectors", "vae", "audio_vae", "vocoder")}
    loaded = load_components("2.0", {"checkpoint": bare}, configs, components=["transformer"], dtype=torch.bfloat16)
    assert loaded["transformer"].proj_in.weight.dtype == torch.bfloat16
    assert torch.equal(loaded["transformer"].proj_in.weight, parts["transformer"].proj_in.weight.to(torch.bfloat16))


def test_fp8_weights_are_upcast_with_their_scale(written, tmp_path):
    parts, path = written["2.0"]
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = f.metadata()
    key = "model.diffusion_model.proj_out.weight"
    scale = tensors[key].abs().max() / 448.0
    tensors[key] = (tensors[key] / scale).to(torch.float8_e4m3fn)
    tensors[key.replace(".weight", ".weight_scale")] = scale.reshape(1)
    fp8_file = tmp_path / "fp8.safetensors"
    save_file(tensors, str(fp8_file), metadata=meta)
    got = load_components("2.0", {"checkpoint": fp8_file}, components=["transformer"])["transformer"]
    assert got.proj_out.weight.dtype == torch.bfloat16
    torch.testing.assert_close(got.proj_out.weight.float(), parts["transformer"].proj_out.weight,
                               rtol=0.07, atol=1e-3)  # fp8 e4m3 keeps 3 mantissa bits
    # an integer-quantized layer (ComfyUI's int8 files) is refused by name, not loaded as garbage
    tensors["model.diffusion_model.patchify_proj.weight"] = torch.ones(16, 4, dtype=torch.int8)
    save_file(tensors, str(fp8_file), metadata=meta)
    with pytest.raises(ModelFileError, match=r"fp8\.safetensors: model\.diffusion_model\.patchify_proj\.weight is stored "
                                             r"as torch\.int8 .*use the bf16 or fp8 file"):
        load_components("2.0", {"checkpoint": fp8_file}, components=["transformer"])


def test_wrong_file_for_a_component_is_one_clear_error(written):
    files = dict(written["split"])
    files["video_vae"] = files["audio_vae"]  # the audio file given as video VAE
    with pytest.raises(ModelFileError) as err:
        load_components("2.5", files)
    text = str(err.value)
    assert "video VAE" in text and "ltx-2.5-audio-vae-bf16.safetensors" in text and "audio_vae.*" in text
    assert isinstance(err.value, UserInputError) and err.value.exit_code == 2


def test_file_of_another_version_is_named(written):
    _, path23 = written["2.3"]
    with pytest.raises(ModelFileError, match=r"is an LTX-2\.3 file .* but LTX-2\.0 was asked for"):
        load_components("2.0", {"checkpoint": path23})
    # without the version mark the keys tell: 2.3 tensors against a 2.0 config
    parts20, _ = written["2.0"]
    with safe_open(str(path23), framework="pt") as f:
        bare = path23.with_name("no-version.safetensors")
        save_file({k: f.get_tensor(k) for k in f.keys()}, str(bare))
    with pytest.raises(ModelFileError, match=r"LTX-2\.0 transformer \(DiT\): .*no-version\.safetensors"):
        load_components("2.0", {"checkpoint": bare}, {"transformer": dict(parts20["transformer"].config)},
                        components=["transformer"])


def test_split_folder_resolution_and_missing_file(written, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(written["split"]["dit"].parents[1], models)
    found = resolve_model_files("2.5", str(models))
    assert {r: p.resolve() for r, p in found.items()} == {
        r: (models / rel).resolve() for r, rel in SPLIT_FILES_25.items()}
    # a file in a subfolder of its category is found too (ComfyUI allows it)
    nested = models / "vae" / "ltx"
    nested.mkdir()
    (models / SPLIT_FILES_25["video_vae"]).rename(nested / Path(SPLIT_FILES_25["video_vae"]).name)
    assert resolve_model_files("2.5", str(models))["video_vae"].parent == nested
    # the DiT file as name_or_path: the others are found in its models folder
    assert resolve_model_files("2.5", str(models / SPLIT_FILES_25["dit"]))["text_encoder"].is_file()
    (models / SPLIT_FILES_25["audio_vae"]).unlink()
    with pytest.raises(ModelFileError) as err:
        resolve_model_files("2.5", str(models))
    text = str(err.value)
    assert "audio VAE + vocoder file vae/ltx-2.5-audio-vae-bf16.safetensors" in text
    assert str(models) in text and "model.model_kwargs.audio_vae_path" in text
    # an override names its own key when it points nowhere, and is used when it exists
    with pytest.raises(ModelFileError, match=r"model\.model_kwargs\.audio_vae_path '/nowhere/a\.safetensors' not found"):
        resolve_model_files("2.5", str(models), {"audio_vae_path": "/nowhere/a.safetensors"})
    got = resolve_model_files("2.5", str(models), {"audio_vae_path": str(written["split"]["audio_vae"])})
    assert got["audio_vae"] == written["split"]["audio_vae"]


def test_org_repo_file_form_reads_the_hub_cache(written, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    snapshot = cache / "models--Lightricks--LTX-2.3" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (cache / "models--Lightricks--LTX-2.3" / "refs").mkdir()
    (cache / "models--Lightricks--LTX-2.3" / "refs" / "main").write_text("abc123")
    shutil.copy(written["2.3"][1], snapshot / "ltx-2.3-22b-dev.safetensors")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    files = resolve_model_files("2.3", "Lightricks/LTX-2.3/ltx-2.3-22b-dev.safetensors")
    assert files == {"checkpoint": snapshot / "ltx-2.3-22b-dev.safetensors"}
    with pytest.raises(ModelFileError) as err:
        resolve_model_files("2.3", "Lightricks/LTX-2.3/ltx-2.3-22b-distilled-1.1.safetensors")
    assert str(cache) in str(err.value) and "ltx-2.3-22b-distilled-1.1.safetensors" in str(err.value)
    # a diffusers-format repo id is not an original file: left to the diffusers loader
    assert resolve_model_files("2.3", "diffusers/LTX-2.3-Diffusers") is None


def test_write_command_from_a_diffusers_folder(written, tmp_path):
    from extensions_built_in.diffusion_models.ltx2.weights.write import main

    parts, _ = written["2.5"]
    src = tmp_path / "src"
    for component, module in parts.items():
        module.save_pretrained(src / component)
    (src / "tokenizer").mkdir()
    for name, data in tokenizer_files().items():
        (src / "tokenizer" / name).write_bytes(data)
    assert main(["--layout", "split", str(src), str(tmp_path / "models")]) == 0
    files = {role: tmp_path / "models" / rel for role, rel in SPLIT_FILES_25.items()}
    loaded = load_components("2.5", files, components=["text_encoder", "vocoder", "tokenizer"])
    _assert_same(parts["text_encoder"], loaded["text_encoder"], "text_encoder", "2.5")
    _assert_same(parts["vocoder"], loaded["vocoder"], "vocoder", "2.5")
    assert loaded["tokenizer"]("hello world")["input_ids"][1:] == [7, 8]  # the folder's tokenizer.json
    assert main(["--layout", "single", str(src), str(tmp_path / "one.safetensors")]) == 0
    one = load_components("2.5", {"checkpoint": tmp_path / "one.safetensors"}, components=["audio_vae"])
    _assert_same(parts["audio_vae"], one["audio_vae"], "audio_vae", "2.5")
    with pytest.raises(SystemExit, match="split layout is LTX-2.5's"):
        main(["--layout", "split", "--version", "2.3", str(src), str(tmp_path / "models23")])


def test_model_kwargs_is_typed_and_names_the_closest_key(tmp_path):
    from toolkit.configuration.loader import ConfigValidationError, validate_config_data

    def config(kwargs):
        return {"job": "extension", "config": {"name": "t", "process": [{
            "type": "sd_trainer", "model": {"name_or_path": "Lightricks/LTX-2", "model_kwargs": kwargs},
            "datasets": [{"folder_path": str(tmp_path)}]}]}}

    ok = validate_config_data(config({"dit_path": "/m/dit.safetensors", "compile_mode": "max-autotune"}), "c.yaml")
    kwargs = ok.job.config.process[0].model.model_kwargs
    assert kwargs.dit_path == "/m/dit.safetensors" and kwargs.compile_mode == "max-autotune"
    assert kwargs.compile_backend == "inductor" and kwargs.text_encoder_path is None
    with pytest.raises(ConfigValidationError) as err:
        validate_config_data(config({"dit_pth": "/m/dit.safetensors"}), "c.yaml")
    assert "model_kwargs.dit_pth" in str(err.value) and "did you mean 'dit_path'" in str(err.value)

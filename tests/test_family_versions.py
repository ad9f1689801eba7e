"""The LTX-2 family table: real configs of each version (checked by parameter count on the meta
device), per-arch config defaults resolved at validation, tiny models per version, and
ai-toolkit's own LTX-2.3 / LTX-2.5 UI configs validating and training on the tiny models."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from conftest import run_config

from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS, detect_version
from toolkit.configuration.loader import load_config, validate_config_data

ROOT = Path(__file__).resolve().parents[1]

# Parameter counts of the released models (transformer, connectors, video VAE, vocoder).
REAL_PARAMS = {
    "ltx2": (18_876_174_592, 1_431_475_200, 1_222_479_601, 55_592_802),
    "ltx2.3": (18_988_838_144, 3_172_227_584, 726_105_969, 128_537_448),
    "ltx2.5": (18_987_859_200, 3_172_227_584, 726_105_969, 128_537_448),
}


@pytest.mark.parametrize("arch", list(VERSIONS))
def test_table_configs_build_the_real_models(arch):
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2 import vocoder as vocoders
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    version = VERSIONS[arch]
    with init_empty_weights():
        built = (
            LTX2VideoTransformer3DModel(**version.transformer_config),
            LTX2TextConnectors(**version.connectors_config),
            AutoencoderKLLTX2Video(**version.vae_config),
            getattr(vocoders, version.vocoder_class)(**version.vocoder_config),
        )
    assert tuple(sum(p.numel() for p in m.parameters()) for m in built) == REAL_PARAMS[arch]
    assert detect_version(dict(built[0].config)) == version.number
    assert built[3].config.output_sampling_rate == version.audio_sample_rate


def _process(arch=None, **sections):
    proc = {"model": {"name_or_path": "x/y", **({"arch": arch} if arch else {})},
            "datasets": [{"folder_path": "/data"}], **sections}
    return validate_config_data({"job": "extension", "config": {"name": "n", "process": [proc]}}).job.config.process[0]


def test_arch_defaults_are_resolved_at_validation_and_user_keys_win():
    assert (_process().sample.sample_steps, _process("ltx2").sample.sample_steps) == (40, 40)
    for arch in ("ltx2.3", "LTX-2.5"):
        proc = _process(arch)
        assert proc.model.arch in VERSIONS and proc.sample.sample_steps == 30
        assert (proc.sample.guidance_scale, proc.sample.audio_guidance_scale) == (3.0, 7.0)
        assert proc.network.linear == 32 and proc.train.independent_audio_timestep
    assert _process("ltx2.3", sample={"sample_steps": 12}).sample.sample_steps == 12
    assert _process("ltx2.3", network={"rank": 8}).network.linear == 8
    # a config that sets only guidance_scale (written before audio had its own) guides audio with it
    only_video = _process("ltx2.5", sample={"guidance_scale": 1.0}).sample
    assert (only_video.guidance_scale, only_video.audio_guidance_scale) == (1.0, 1.0)


@pytest.mark.parametrize("version", ["2.5"])  # 2.3 is what 2.5 builds on: one CLI run covers both paths
def test_tiny_model_cli_builds_the_version(version, tmp_path):
    from diffusers import LTX2Pipeline

    from extensions_built_in.diffusion_models.ltx2.tiny_model import main

    assert main(["--version", version, str(tmp_path / "m")]) == 0
    assert json.loads((tmp_path / "m" / "tiny_ltx2.json").read_text())["version"] == version
    pipe = LTX2Pipeline.from_pretrained(str(tmp_path / "m"))
    assert detect_version(dict(pipe.transformer.config)) == version
    table = VERSIONS[f"ltx{version}"]
    assert type(pipe.text_encoder).__name__ == table.text_encoder_class
    assert type(pipe.vocoder).__name__ == table.vocoder_class and pipe.vocoder.config.output_sampling_rate == 48000
    assert pipe.connectors.config.per_modality_projections and pipe.vae.config.upsample_type[-1] == "spatial"


@pytest.mark.parametrize("version", ["2.3", "2.5"])
def test_ai_toolkit_ui_config_validates_and_trains_on_the_tiny_model(version, tiny_version_dir, clip_data, tmp_path):
    """The example is ai-toolkit's UI config for this arch; only paths, sizes, step counts and the
    strict audio minimum change (and one sample prompt is kept)."""
    example = ROOT / f"config/examples/ltx{version}_character_lora.yaml"
    as_written = load_config(example).job.config.process[0]  # the version's sampling defaults apply
    assert as_written.model.arch == f"ltx{version}" and as_written.sample.sample_steps == 30
    assert (as_written.sample.guidance_scale, as_written.sample.audio_guidance_scale) == (3.0, 7.0)
    data = copy.deepcopy(yaml.safe_load(example.read_text()))
    proc = data["config"]["process"][0]
    proc.update(training_folder=str(tmp_path), device="cpu")
    proc["model"]["name_or_path"] = str(tiny_version_dir(version))
    proc["datasets"][0].update(folder_path=str(clip_data), resolution=[64], num_frames=9)
    # the example's strict audio mode stays on; its 90% speech minimum does not suit 9-frame
    # (0.375 s) windows, half of which fall between the synthetic clips' words
    proc["train"].update(steps=1, strict_audio_min_supervised_ratio=0.3)
    proc["sample"].update(width=64, height=64, num_frames=9, sample_steps=2, samples=proc["sample"]["samples"][:1])
    loaded = validate_config_data(data)
    assert not any("unknown" in w for w in loaded.warnings)
    run = run_config(data)
    log = (run.out.folder / "log.txt").read_text()
    assert run.step == 1 and (run.out.folder / f"{loaded.job.config.name}.safetensors").is_file()
    assert f"version {version}" in log and "quantized" in log
    if version == "2.5":
        assert "model.qtype convrot8 (ai-toolkit's own 8-bit backend) is served as qint8" in log
    # the run ends with a sample: video with the vocoder's 48 kHz sound, kept at 48 kHz
    import av

    with av.open(str(run.out.folder / "samples" / "000000001_00.mp4")) as container:
        audio = container.streams.audio[0]
        assert audio.rate == 48000 and audio.channels == 2 and container.streams.video


def test_latent_cache_keys_never_mix_versions(tmp_path):
    """The disk-cache key of a clip includes the version's video latent space: the same clip and
    model path give another key for 2.0 and 2.3 (different VAEs) and for 2.3 and 2.5."""
    from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model
    from toolkit.dataloader_mixins import DatasetSpec, _cache_key

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"0")
    spec = DatasetSpec(folder=str(tmp_path), resolution=64, num_frames=9, fps=24.0, do_audio=True)
    keys = set()
    for arch in VERSIONS:
        model = object.__new__(LTX2Model)  # only the identity is needed, not the weights
        model.version, model.source = VERSIONS[arch], "/models/same-folder"
        keys.add(_cache_key(model.cache_identity, spec, clip, (False, False), 0))
    assert len(keys) == 3

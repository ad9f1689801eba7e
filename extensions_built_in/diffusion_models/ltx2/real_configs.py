"""The real LTX-2 family configurations (2.0, 2.3, 2.5) for size estimates and benchmarks.

The transformer and connector configs are the LTX-2 adapter's version table
(extensions_built_in/diffusion_models/ltx2/versions.py, plain data), keyed here by version
number; this module adds what the memory model needs beyond them: parameter counts taken
from the classes built on the meta device with those configs (diffusers 0.42.1; a test checks
they still match), and the published sizes of the components it does not build (Gemma, VAEs,
vocoder).
"""

from __future__ import annotations

import json
from pathlib import Path

from extensions_built_in.diffusion_models.ltx2.versions import VERSIONS as _FAMILY
from extensions_built_in.diffusion_models.ltx2.versions import normalise_arch
from extensions_built_in.diffusion_models.ltx2.weights.file_index import CONFIGS_METADATA, read_header, read_shapes
from extensions_built_in.diffusion_models.ltx2.weights.places import ModelSources, find_component, places
from extensions_built_in.diffusion_models.ltx2.weights.resolve import resolve_model_files

_BY_NUMBER = {version.number: version for version in _FAMILY.values()}
VERSIONS = tuple(_BY_NUMBER)
# The widths every release shares (diffusers' class defaults, which the table leaves out),
# spelled out because the memory model reads them without building the class.
_REAL_DIMS = dict(
    in_channels=128, out_channels=128, num_attention_heads=32, attention_head_dim=128,
    cross_attention_dim=4096, audio_in_channels=128, audio_out_channels=128,
    audio_num_attention_heads=32, audio_attention_head_dim=64, audio_cross_attention_dim=2048,
    num_layers=48, caption_channels=3840, qk_norm="rms_norm_across_heads",
)
TRANSFORMER = {number: {**_REAL_DIMS, **version.transformer_config} for number, version in _BY_NUMBER.items()}
CONNECTORS = {number: dict(version.connectors_config) for number, version in _BY_NUMBER.items()}

# Parameter counts (meta device, the configs above).
TRANSFORMER_PARAMS = {"2.0": 18_876_174_592, "2.3": 18_988_838_144, "2.5": 18_987_859_200}
BLOCK_PARAMS = {"2.0": 386_074_624, "2.3": 386_695_360, "2.5": 386_674_880}
CONNECTOR_PARAMS = {"2.0": 1_431_475_200, "2.3": 3_172_227_584, "2.5": 3_172_227_584}

# Components that are not built here: published or meta-device sizes.
# Text encoder: Gemma 3 12B (with its vision tower, as loaded) for 2.0/2.3; the Gemma 4 12B
# text decoder for 2.5 (same width and depth, no vision tower: its size is approximate).
TEXT_ENCODER_PARAMS = {"2.0": 12_187_000_000, "2.3": 12_187_000_000, "2.5": 11_800_000_000}
VIDEO_VAE_PARAMS = {"2.0": 1_222_000_000, "2.3": 726_000_000, "2.5": 726_000_000}
VIDEO_VAE_ENCODER_PARAMS = {"2.0": 694_000_000, "2.3": 319_000_000, "2.5": 319_000_000}
AUDIO_VAE_PARAMS = {"2.0": 53_200_000, "2.3": 53_200_000, "2.5": 53_200_000}
VOCODER_PARAMS = {"2.0": 55_600_000, "2.3": 128_500_000, "2.5": 128_500_000}

# Latent geometry, the same for every version.
VAE_SPATIAL, VAE_TEMPORAL = 32, 8
AUDIO_LATENTS_PER_S = 25  # 16 kHz, hop 160, 4x time compression
TEXT_TOKENS = 1024  # prompts are padded to the length the pipeline samples with
VIDEO_DIM, AUDIO_DIM, TEXT_DIM_IN = 4096, 2048, {"2.0": 3840, "2.3": 4096, "2.5": 4096}


def version_of(arch: str | None, name_or_path: str | None = None) -> str:
    """The family version a config means: `model.arch` (ltx2, ltx2.3, ltx2.5), else a version
    named in the model path (LTX-2.3, ltx-2.5-...), else 2.0."""
    if arch and normalise_arch(arch) in _FAMILY:
        return _FAMILY[normalise_arch(arch)].number
    text = f"{name_or_path or ''}".lower().replace("_", ".").replace("-", "")
    for version in ("2.5", "2.3"):
        if f"ltx{version}" in text:
            return version
    return "2.0"


def transformer_config(version: str, num_layers: int | None = None) -> dict:
    if version not in TRANSFORMER:
        raise ValueError(f"unknown LTX-2 version '{version}': use one of {', '.join(VERSIONS)}")
    config = dict(TRANSFORMER[version])
    if num_layers is not None:
        config["num_layers"] = num_layers
    return config


def run_transformer_config(model) -> dict:
    """The transformer config of the run: the local folder's config.json, else the one a local
    weight file records, else the released one."""
    path = Path(model.name_or_path).expanduser() / "transformer" / "config.json"
    if path.is_file():
        config = json.loads(path.read_text(encoding="utf-8"))
        return {k: v for k, v in config.items() if not k.startswith("_")}
    version = version_of(getattr(model, "arch", None), model.name_or_path)
    recorded = _recorded_transformer_config(model, version)
    return recorded if recorded is not None else transformer_config(version)


def _recorded_transformer_config(model, version: str) -> dict | None:
    """The transformer config stored in a local single or split weight file. The loader builds
    the model from it when present (files written by extensions_built_in.diffusion_models.ltx2.weights.write, such as the tiny
    models), so sizing it by the released config would warn of tens of GiB for a tiny model.
    Lightricks' own files record none: they get the released config. Only local paths are read
    (a hub id is not looked up here; the start-up checks have already vetted the files)."""
    if not Path(model.name_or_path).expanduser().exists():
        return None
    files = resolve_model_files(version, model.name_or_path, getattr(model, "model_kwargs", None))
    weights = (files or {}).get("checkpoint") or (files or {}).get("dit")
    if weights is None:
        return None
    _, metadata = read_header(weights, "model file")
    stored = json.loads(metadata.get(CONFIGS_METADATA, "{}")).get("transformer")
    return {k: v for k, v in stored.items() if not k.startswith("_")} if stored else None


# A local folder's components, by the field names of the memory plan's ComponentSizes
# (toolkit/memory/plan/phases.py), and the keys of the text encoder's files that do not load
# (the loader keeps Gemma's language model only).
_SIZED = {"text_encoder": "text_encoder", "connectors": "connectors", "vae": "video_vae", "audio_vae": "audio_vae",
          "vocoder": "vocoder"}
_NOT_LOADED = ("vision_tower", "multi_modal_projector", "lm_head")


def run_component_sizes(model) -> dict[str, int]:
    """Parameter counts of a model section's local component folders, from their weight files'
    headers (no tensor read, no torch), so the memory plan sizes a cut-down or variant folder as
    it is; components it cannot find locally (a hub id, single files) are left out (the plan
    takes the released sizes for them). Also `text_layers`: the text encoder's language layers."""
    sources = ModelSources(model.name_or_path, getattr(model, "te_name_or_path", None),
                           getattr(model, "extras_name_or_path", None))
    sizes: dict[str, int] = {}
    for component, field in _SIZED.items():
        folder = _local_folder(component, sources)
        if folder is None:
            continue
        count = sum(_numel(shape) for path in sorted(folder.glob("*.safetensors"))
                    for key, shape in read_shapes(path, component).items()
                    if component != "text_encoder" or not any(part in key for part in _NOT_LOADED))
        if count:
            sizes[field] = count
        if component == "text_encoder":
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            layers = (config.get("text_config") or config).get("num_hidden_layers")
            if layers:
                sizes["text_layers"] = int(layers)
    return sizes


def _local_folder(component: str, sources: ModelSources) -> Path | None:
    for key, value in places(component, sources):
        folder = Path(value).expanduser()
        if folder.is_dir():
            found = find_component(component, key, folder)
            if found is not None:
                return found
    return None


def _numel(shape: list[int]) -> int:
    count = 1
    for size in shape:
        count *= int(size)
    return count

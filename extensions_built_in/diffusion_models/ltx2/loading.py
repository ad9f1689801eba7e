"""Building the components of one LTX-2 version: ONE function, `load_components`.

Where each component comes from (ai-toolkit's keys):
- `name_or_path`: a diffusers-format folder, or a hub id read from the Hugging Face cache
  (`Lightricks/LTX-2`, `diffusers/LTX-2.3-Diffusers`, `Lightricks/LTX-2.5-Diffusers`);
- `te_name_or_path`: the text encoder and tokenizer, from a diffusers folder (its
  `text_encoder/` and `tokenizer/`) or a Gemma folder itself;
- `extras_name_or_path`: every component missing from `name_or_path` (VAEs, vocoder,
  connectors, scheduler, text side), e.g. when name_or_path holds only a transformer.

Original weight files (one single file, LTX-2.5's ComfyUI split files, the
`model.model_kwargs` file paths) are read by `extensions_built_in.diffusion_models.ltx2.weights` (file_sources.py says
which files and which configs); the components they do not hold come from the folders
above: the Gemma 3 text side of 2.0/2.3 from `te_name_or_path` / `extras_name_or_path`, the
scheduler from `extras_name_or_path` or else the release scheduler config.

A missing or wrong component is ONE error naming the component, what was looked for and
where (exit 2). The classes come from the version table, and the loaded transformer must
match the configured `model.arch`.
"""

from __future__ import annotations

import json
from pathlib import Path

import diffusers
import torch
import transformers
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.ltx2 import vocoder as vocoders
from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

from extensions_built_in.diffusion_models.ltx2.file_sources import (
    describe,
    file_components,
    is_file_checkpoint,
    table_configs,
    weight_files,
)
from extensions_built_in.diffusion_models.ltx2.gemma3_file import gemma3_text_config
from extensions_built_in.diffusion_models.ltx2.versions import (
    SCHEDULER_CONFIG,
    LTX2Version,
    detect_version,
    version_by_number,
)
from extensions_built_in.diffusion_models.ltx2.weights.errors import ModelFileError
from extensions_built_in.diffusion_models.ltx2.weights.folder import open_folder_component
from extensions_built_in.diffusion_models.ltx2.weights.load import open_components
from extensions_built_in.diffusion_models.ltx2.weights.places import (
    COMPONENTS,
    TEXT_COMPONENTS,
    ModelSources,
    find_component,
    places,
)
from extensions_built_in.diffusion_models.ltx2.weights.resolve import cached_hub_snapshot, hub_cache_dir
from extensions_built_in.diffusion_models.ltx2.weights.stream import stream_into
from toolkit.errors import UserInputError


def resolve_folder(value: str, key: str) -> Path:
    """A local folder, or a hub id's snapshot folder in the local Hugging Face cache."""
    path = Path(value).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise UserInputError(f"model.{key} '{value}' is a file, not a folder: give a diffusers-format folder or hub id")
    looks_local = value.startswith(("/", ".", "~")) or "\\" in value or value.count("/") != 1
    if looks_local:
        raise UserInputError(
            f"model.{key} '{value}' does not exist: give a local diffusers-format folder or a hub id such as "
            "Lightricks/LTX-2, diffusers/LTX-2.3-Diffusers or Lightricks/LTX-2.5-Diffusers"
        )

    # the same look-up as the checks before the run (extensions_built_in/diffusion_models/ltx2/weights/source_checks.py), so they agree
    snapshot = cached_hub_snapshot(value)
    if snapshot is None:
        # 'models/tiny-ltx2' run from another directory reads as a hub id: name the folder too
        raise UserInputError(
            f"model.{key} '{value}': there is no folder {Path.cwd() / path} (relative paths are read "
            "from the current directory), and as a hub id it is not in the local Hugging Face cache "
            f"({hub_cache_dir()}); nothing is downloaded during a run: fetch it first with "
            f"`huggingface-cli download {value}` (see docs/models.md)"
        )
    return snapshot


def locate(component: str, sources: ModelSources, folders: dict[str, Path], files: str | None = None) -> Path:
    """The folder `component` loads from; one error naming every place looked in otherwise.
    `files`: the weight files already read, which do not hold this component."""
    looked = []
    for key, _ in places(component, sources):
        if key not in folders:
            continue
        found = find_component(component, key, folders[key])
        if found is not None:
            return found
        looked.append(f"{folders[key] / component} (model.{key})")
    if files is not None:
        text = component in TEXT_COMPONENTS
        raise UserInputError(
            f"model: the {component} was not found: the weight files {files} hold no {component} "
            f"(original LTX-2 files carry no {'Gemma text encoder or tokenizer' if text else component}); "
            f"looked for {component}/ with its config in " + "; ".join(looked or ["no folder (none given)"])
            + (". Set model.te_name_or_path to a folder with text_encoder/ and tokenizer/ (or a Gemma folder "
               "itself), or model.extras_name_or_path to a diffusers-format folder or hub id of this version"
               if text else ". Set model.extras_name_or_path to a diffusers-format folder or hub id of this version"))
    raise UserInputError(
        f"model: the {component} was not found: looked for {component}/ with its config in "
        + "; ".join(looked or ["no folder given"])
        + ". Give a complete diffusers-format folder, or add model.extras_name_or_path (VAEs, vocoder, "
        "connectors, scheduler) / model.te_name_or_path (text encoder, tokenizer)"
    )


def open_file_components(version: LTX2Version, files: dict[str, Path], dtype: torch.dtype,
                         text_config: dict | None = None) -> dict:
    """The components the files hold, opened (extensions_built_in.diffusion_models.ltx2.weights.stream: built empty, every
    tensor located; `stream_into` reads them in `dtype`), with the tokenizer when the 2.5
    text-encoder file is given; `text_config`: the Gemma config of a text-encoder file that
    records none."""
    configs = table_configs(version, files)
    if text_config is not None:
        configs["text_encoder"] = text_config
    return open_components(version.number, files, configs, dtype=dtype)


def default_scheduler():
    """The release scheduler (original files carry none)."""
    return FlowMatchEulerDiscreteScheduler.from_config(dict(SCHEDULER_CONFIG))


def _classes(version: LTX2Version) -> dict:
    return {
        "transformer": diffusers.LTX2VideoTransformer3DModel,
        "connectors": LTX2TextConnectors,
        "vae": diffusers.AutoencoderKLLTX2Video,
        "audio_vae": diffusers.AutoencoderKLLTX2Audio,
        "vocoder": getattr(vocoders, version.vocoder_class),
        "text_encoder": getattr(transformers, version.text_encoder_class),
        "tokenizer": transformers.AutoTokenizer,
        "scheduler": diffusers.FlowMatchEulerDiscreteScheduler,
    }


def _load_small(component: str, klass, folder: Path):
    """The tokenizer or the scheduler (no weights): the library's own loading."""
    return klass.from_pretrained(str(folder))


def _check_class(component: str, folder: Path, version: LTX2Version, klass) -> None:
    """A component saved as another class (a 2.0 vocoder in a 2.3 folder) is a wrong file."""
    if component in ("tokenizer", "scheduler"):
        return
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"model: the {component} config {folder / 'config.json'} is unreadable: {exc}") from exc
    saved = config.get("_class_name") or (config.get("architectures") or [None])[0]
    if saved and saved != klass.__name__:
        raise UserInputError(
            f"model: the {component} in {folder} is a {saved}, but LTX-{version.number} (model.arch "
            f"{version.arch}) needs a {klass.__name__}: point the model paths at LTX-{version.number} files "
            "or set model.arch to the version of these files"
        )


def check_transformer_version(transformer, version: LTX2Version, where: str) -> None:
    found = detect_version(dict(transformer.config))
    if found != version.number:
        other = version_by_number(found)
        hint = f"set model.arch: {other.arch}" if other else "use the matching files"
        raise UserInputError(
            f"model.arch is {version.arch} (LTX-{version.number}) but the transformer in {where} is LTX-{found}: "
            f"{hint}, or point model.name_or_path at LTX-{version.number} weights"
        )


class ComponentSource:
    """Every component of one version, located and checked before any weight is read; each
    heavy one is read when `open` is called (loaded a phase at a time, straight to where it
    rests: extensions_built_in/diffusion_models/ltx2/weights/stream.py). The tokenizer and scheduler (no weights) load now.

    `source`: where the transformer comes from (the log and the caches' model identity)."""

    def __init__(self, version: LTX2Version, sources: ModelSources, dtype: torch.dtype,
                 only: tuple[str, ...] | None = None):
        files = weight_files(version, sources.name_or_path, sources.te_name_or_path, sources.extras_name_or_path,
                             sources.file_paths)
        from_files = file_components(files, version) if files else set()
        folders: dict[str, Path] = {}
        for key in ("name_or_path", "te_name_or_path", "extras_name_or_path"):
            value = getattr(sources, key)
            if value and not is_file_checkpoint(value) and not (files and key == "name_or_path"):
                folders[key] = resolve_folder(value, key)
        files_text = ", ".join(sorted({str(p) for p in files.values()})) if files else None
        classes = _classes(version)
        planned: dict[str, Path | None] = {}
        for component in COMPONENTS:
            if component in from_files or (only is not None and component not in only):
                continue
            if component == "scheduler" and files and not any(
                    find_component(component, key, folders[key]) for key, _ in places(component, sources) if key in folders):
                planned[component] = None  # original files carry none: the release config (it has no weights)
                continue
            planned[component] = folder = locate(component, sources, folders, files_text)
            _check_class(component, folder, version, classes[component])
        text_config = None
        if files and "text_encoder" in files and version.number != "2.5":
            text_config = gemma3_text_config(files["text_encoder"], folders, find_component)
        self.version, self.dtype = version, dtype
        self.weights: dict = open_file_components(version, files, dtype, text_config) if files else {}
        self.small: dict = {}
        for component, folder in planned.items():
            if component in ("tokenizer", "scheduler"):
                try:
                    self.small[component] = (default_scheduler() if folder is None
                                             else _load_small(component, classes[component], folder))
                except (OSError, ValueError) as exc:
                    raise UserInputError(f"model: could not load the {component} from {folder}: {exc}") from exc
                continue
            try:
                self.weights[component] = open_folder_component(component, version.number, folder, dtype)
            except ModelFileError as exc:
                raise UserInputError(f"model: could not load the {component} from {folder}: {exc}") from exc
        if "tokenizer" in self.weights:  # LTX-2.5's text-encoder file embeds its tokenizer
            self.small["tokenizer"] = self.weights.pop("tokenizer")
        self.source = describe(files) if files else str(folders.get("name_or_path", sources.name_or_path))
        self.configs = {name: _plain(weights.module) for name, weights in self.weights.items()}
        # The transformer config alone says the version: checked before anything is read.
        if "transformer" in self.weights:
            check_transformer_version(self.weights["transformer"].module, version, self.source)

    def params(self, component: str) -> int:
        """Parameters of a component not read yet (its module is built empty: nothing read)."""
        return sum(p.numel() for p in self.weights[component].module.parameters())

    def open(self, component: str, units=(), finish=None):
        """Read `component` (once): each of `units` is handed to `finish(unit, submodule)`
        as soon as its weights are in (stream.py); the module comes back in eval mode."""
        weights = self.weights.pop(component)
        return stream_into(weights, units, finish)


def _plain(module) -> dict:
    config = getattr(module, "config", None)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    return dict(config) if config is not None else {}


def load_components(version: LTX2Version, sources: ModelSources, dtype: torch.dtype,
                    only: tuple[str, ...] | None = None) -> tuple[dict, str]:
    """Every component of `version` in `dtype` (or those in `only`: components found in weight
    files are all loaded), read whole; returns (components, where the transformer came from).
    Every place is checked before any weight is read, so a missing component fails in a second."""
    source = ComponentSource(version, sources, dtype, only)
    components = dict(source.small)
    for component in list(source.weights):
        components[component] = source.open(component)
    return components, source.source

"""The interface a model family implements: its light half (plain data and file rules, no torch)
that `--validate`, `--check`, start-up, the config schema, the memory estimate and the LoRA tools
read, and the name of its heavy half (the adapter) that only the run imports.

The light half is one `ModelFamily` object in the family's `family.py`; a test imports each
family's light module in a fresh interpreter and holds it to importing no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

# Who reads a LoRA file's key (a key namer says it per key): ComfyUI's loader, diffusers/peft's.
COMFYUI_READER, DIFFUSERS_READER = "comfyui", "diffusers"
BOTH_READERS = frozenset({COMFYUI_READER, DIFFUSERS_READER})


@dataclass(frozen=True)
class LoraKeyNamer:
    """How a family's LoRA files name the network's keys, handed by the model to the network (as
    ai-toolkit's model converts LoRA weights before saving and after loading).

    `file_keys(peft_key, text_connectors)`: the keys one peft tensor is written under in a
    ComfyUI-named file, each with the readers (COMFYUI_READER, DIFFUSERS_READER) that use it;
    `text_connectors`: whether the text side's own connector copy is adapted too.
    `from_file(state_dict)`: a file's tensors (either naming) under the peft keys."""

    file_keys: Callable[[str, bool], list[tuple[str, frozenset[str]]]]
    from_file: Callable[[dict], dict]


@dataclass(frozen=True)
class ModelFamily:
    """A model family's light half. Every callable here runs without torch.

    name: the family's folder under extensions_built_in/diffusion_models/;
    versions: `model.arch` name -> the version's entry (its `config_defaults`: dotted config
      key -> default for that arch); default_arch: the arch a config that names none trains;
    normalise_arch: a written arch (aliases, case) -> its name in `versions` (unknown names pass);
    model_source_problems(model, cache=True): (config key, message) for every problem with a
      model section's sources, by the rules its loader uses (`--validate`, start-up);
    describe_model_source(model): one line saying where the model comes from (`--check`);
    hub_download_notes(model): what is not yet in the Hugging Face cache (`--check`);
    run_transformer_config(model): the transformer config a model section loads (the memory
      estimate sizes it), read from file headers only;
    run_component_sizes(model): parameter counts of the model section's local component
      folders (field -> count, the memory plan's ComponentSizes names), from file headers only;
    real_sizes: the released models' sizes per version that the memory estimate and plan count
      with (module-like: the names toolkit/memory/sizes.py reads);
    lora_file_keys: the keys the trainer writes one peft tensor under (LoraKeyNamer's
      `file_keys`; the adapter's `lora_key_namer` pairs it with its heavy `from_file`);
    lora_file_tools: the module of the family's LoRA file tools (torch and safetensors, no
      diffusers), which `python -m toolkit.lora_tools` imports through the registry: `read_lora`,
      `facts`, `render`, `to_json`, `strip_audio`, `split`, `convert`, `BaseWeights`, `merge`,
      `resize`, and the key names the command offers (`WRITABLE` namings, `BY_NAME` layer families);
    heavy: the module of the adapter class (torch, diffusers), which the run imports; it holds
      KEY_NAMER, the LoraKeyNamer (lora_file_keys and the file reader) the adapter hands the network."""

    name: str
    versions: Mapping[str, Any]
    default_arch: str
    normalise_arch: Callable[[str], str]
    model_source_problems: Callable[..., list[tuple[str, str]]]
    describe_model_source: Callable[[Any], str]
    hub_download_notes: Callable[[Any], list[str]]
    run_transformer_config: Callable[[Any], dict]
    run_component_sizes: Callable[[Any], dict[str, int]]
    real_sizes: ModuleType
    lora_file_keys: Callable[[str, bool], list[tuple[str, frozenset[str]]]]
    lora_file_tools: str
    heavy: str

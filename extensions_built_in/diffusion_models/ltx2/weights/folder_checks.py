"""Whether the component folders of a diffusers-format model hold their files, not only their names.

An interrupted or filtered download (a stopped `hf download`, `--include "*.json"`, a copy cut
short) leaves component folders with their config and without their weights, or a sharded
component's index without some of its shards. Checking folder names only, `--validate` then
says "ok" and the run stops later, after the components before it have loaded (minutes at real
size), with the loader's message about a `.bin` file. This names the folder and the files.

A file in the Hugging Face cache is a link into its blob store; a link whose blob is gone counts
as missing, as it does for the loader.
"""

from __future__ import annotations

import json
from pathlib import Path

from extensions_built_in.diffusion_models.ltx2.weights.places import marker

WEIGHT_SUFFIXES = (".safetensors", ".bin")
NO_WEIGHTS = ("tokenizer", "scheduler")


def component_file_problems(folder: Path, components: list[str]) -> list[str]:
    """One phrase per component of `folder` that lacks a file the loader needs ("transformer/ has
    no weight file (*.safetensors)"); components whose folder is absent are the caller's."""
    problems = []
    for name in components:
        sub = folder / name
        if not sub.is_dir():
            continue
        config = marker(name)  # the file the loader looks for first (places.py)
        if not (sub / config).is_file():
            problems.append(f"{name}/ has no {config}")
        if name not in NO_WEIGHTS:
            problems.extend(_weight_problems(name, sub))
    return problems


def _weight_problems(name: str, sub: Path) -> list[str]:
    indexes = sorted(sub.glob("*.index.json"))
    problems = []
    for index in indexes:
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(f"{name}/{index.name} cannot be read ({exc})")
            continue
        lacking = [shard for shard in shards if not (sub / shard).is_file()]
        if lacking:
            problems.append(f"{name}/ lacks {len(lacking)} of the {len(shards)} weight files its {index.name} "
                            f"names (e.g. {lacking[0]})")
    if not indexes and not any(p.suffix in WEIGHT_SUFFIXES and p.is_file() for p in sub.iterdir()):
        problems.append(f"{name}/ has no weight file (*.safetensors)")
    return problems

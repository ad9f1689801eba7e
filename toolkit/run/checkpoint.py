"""Training state beside each LoRA checkpoint, for exact resume.

`<name>_<step:09d>.state.pt` holds the network (full precision, unfolded), optimizer,
scheduler, audio balancer, step, RNG states and data order. Written by the atomic writer
(toolkit/atomic.py), so a kill during a save leaves the previous checkpoint usable.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from toolkit.atomic import atomic_torch_save, atomic_write_text, sha256_of, write_error

STATE_SUFFIX = ".state.pt"


def rng_state() -> dict:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: Path, state: dict) -> Path:
    return atomic_torch_save(path, state)


def load_state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def list_states(folder: Path, name: str) -> list[tuple[int, Path]]:
    """(step, path) of every state file of run `name`, oldest first."""
    pattern = re.compile(rf"^{re.escape(name)}_(\d{{9}}){re.escape(STATE_SUFFIX)}$")
    found = []
    for entry in Path(folder).glob(f"{name}_*{STATE_SUFFIX}"):
        match = pattern.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry))
    return sorted(found)


def list_step_checkpoints(folder: Path, name: str) -> list[int]:
    """Steps that have a step LoRA or a state file (a kill between the two writes leaves one
    without the other), oldest first."""
    pattern = re.compile(rf"^{re.escape(name)}_(\d{{9}})\.safetensors$")
    steps = {step for step, _ in list_states(folder, name)}
    for entry in Path(folder).glob(f"{name}_*.safetensors"):
        match = pattern.match(entry.name)
        if match:
            steps.add(int(match.group(1)))
    return sorted(steps)


def state_path_for(lora_path: Path) -> Path:
    return lora_path.with_name(lora_path.name.removesuffix(".safetensors") + STATE_SUFFIX)


# ---------------------------------------------------------------- checksums and damage

CHECKSUM_SUFFIX = ".sha256.json"


class DamagedCheckpoint(Exception):
    """A checkpoint file that does not verify or load (internal: resume moves it aside)."""


def checkpoint_files(lora_path: Path) -> list[Path]:
    """The files of one step checkpoint: LoRA, state, checksums."""
    stem = lora_path.name.removesuffix(".safetensors")
    return [lora_path, lora_path.with_name(stem + STATE_SUFFIX), lora_path.with_name(stem + CHECKSUM_SUFFIX)]


def write_checksums(lora_path: Path) -> Path:
    """Written last, after the LoRA and the state: the sha256 of both, verified on resume."""
    lora, state, sums = checkpoint_files(lora_path)
    digests = {p.name: sha256_of(p) for p in (lora, state)}
    return atomic_write_text(sums, json.dumps({"sha256": digests}, indent=1))


def _verify_checksums(lora_path: Path) -> None:
    lora, state, sums = checkpoint_files(lora_path)
    if not sums.exists():
        return  # a kill after the state and before this file: the load checks decide
    try:
        expected = json.loads(sums.read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DamagedCheckpoint(f"{sums.name} is unreadable ({exc})") from exc
    for path in (lora, state):
        if path.name in expected and path.exists() and sha256_of(path) != expected[path.name]:
            raise DamagedCheckpoint(f"{path.name} does not match its checksum")


def load_verified_state(state_path: Path) -> dict:
    """The state of one checkpoint after its checksums, its LoRA file and the state itself
    check out; raises DamagedCheckpoint with the reason otherwise."""
    lora_path = state_path.with_name(state_path.name.removesuffix(STATE_SUFFIX) + ".safetensors")
    _verify_checksums(lora_path)
    if lora_path.exists():
        try:
            load_file(str(lora_path))
        except (OSError, SafetensorError) as exc:
            raise DamagedCheckpoint(f"{lora_path.name} does not load ({exc})") from exc
    try:
        state = load_state(state_path)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many kinds (zip, pickle, EOF) for one cause
        raise DamagedCheckpoint(f"{state_path.name} does not load ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or "step" not in state or "network" not in state:
        raise DamagedCheckpoint(f"{state_path.name} is not a training state of this trainer")
    return state


def move_aside(lora_path: Path) -> Path:
    """Move every file of a damaged checkpoint into `<folder>/damaged/` (kept, never deleted)."""
    target = lora_path.parent / "damaged"
    try:
        target.mkdir(exist_ok=True)
        for path in checkpoint_files(lora_path):
            if path.exists():
                os.replace(path, target / path.name)
    except OSError as exc:
        raise write_error(target, exc) from exc
    return target

"""Training state beside each LoRA checkpoint, for exact resume.

`<name>_<step:09d>.state.pt` holds the network (full precision, unfolded), optimizer,
scheduler, audio balancer, step, RNG states and data order. Written to a temp file and
renamed, so a kill during a save leaves the previous checkpoint usable.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

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
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


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

"""`network.pretrained_lora_path`: checked by --check and before a run loads it.

Only the file's header is read (no model needed): it must exist, be a safetensors file and
hold adapter weights (LoRA `lora_A`/`lora_B`, or LoKr), so a typo or a wrong file is one
line naming the key and the path rather than a failure deep inside the network code.
"""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError, safe_open

from toolkit.errors import UserInputError

KEY = "network.pretrained_lora_path"
ADAPTER_MARKS = ("lora_A", "lora_B", "lora_down", "lora_up", "lokr_")


def check_lora_file(path: str | Path) -> Path:
    """The path, after checking it holds adapter weights; UserInputError otherwise."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserInputError(f"{KEY} '{path}' does not exist: give the path of a LoRA .safetensors file, "
                             "or remove the key to start from scratch")
    try:
        with safe_open(str(path), framework="pt") as handle:
            keys = list(handle.keys())
    except (OSError, SafetensorError) as exc:
        raise UserInputError(f"{KEY} '{path}' is not a readable safetensors file ({exc})") from exc
    if not any(mark in key for key in keys for mark in ADAPTER_MARKS):
        raise UserInputError(f"{KEY} '{path}' holds no LoRA or LoKr weights ({len(keys)} tensors, none named "
                             "lora_A/lora_B/lokr_): give a LoRA file this trainer or ai-toolkit wrote")
    return path


def check_pretrained_lora(process_config) -> None:
    """--check: the pretrained LoRA, when one is set."""
    path = process_config.network.pretrained_lora_path
    if path:
        check_lora_file(path)
        print(f"{KEY}: ok: {path}")

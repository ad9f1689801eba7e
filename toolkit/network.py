"""The trainable network on the transformer: LoRA, DoRA and LoKr through peft.

peft injects the adapters (`transformer.add_adapter`); this module owns what peft lacks:
which modules are targeted (audio modules left out of a video-only LoRA), rank and module
dropout for plain LoRA, and the on-disk formats (ComfyUI keys by default, diffusers keys on
request), with alpha folded into the weights so every loader reads the same scale.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from toolkit.errors import UserInputError
from toolkit.lora_keys import COMFY_PREFIX, from_comfy_state_dict, to_comfy_key

ADAPTER_NAME = "default"
AUDIO_MODULE_NAMES = ("audio_attn1", "audio_attn2", "audio_ff", "audio_to_video_attn", "video_to_audio_attn")


@dataclass
class NetworkSettings:
    type: str = "lora"  # lora | dora | lokr
    rank: int = 32
    alpha: float = 32.0
    dropout: float = 0.0
    rank_dropout: float = 0.0
    module_dropout: float = 0.0
    lokr_factor: int = -1
    include_audio: bool = True
    only_if_contains: list[str] = field(default_factory=list)
    ignore_if_contains: list[str] = field(default_factory=list)


def select_target_modules(transformer: nn.Module, settings: NetworkSettings) -> list[str]:
    """Names of the Linear layers inside the transformer blocks that the network wraps."""
    names = []
    for name, module in transformer.named_modules():
        if not isinstance(module, nn.Linear) or not name.startswith("transformer_blocks."):
            continue
        parts = name.split(".")
        if not settings.include_audio and any(p in AUDIO_MODULE_NAMES for p in parts):
            continue
        if settings.only_if_contains and not any(s in name for s in settings.only_if_contains):
            continue
        if any(s in name for s in settings.ignore_if_contains):
            continue
        names.append(name)
    if not names:
        raise UserInputError(
            "network: no transformer layer matches the targeting rules "
            f"(only_if_contains={settings.only_if_contains}, ignore_if_contains={settings.ignore_if_contains})"
        )
    return names


def _peft_config(settings: NetworkSettings, targets: list[str]):
    from peft import LoKrConfig, LoraConfig

    if settings.type in ("lora", "dora"):
        return LoraConfig(
            r=settings.rank,
            lora_alpha=settings.alpha,
            lora_dropout=settings.dropout,
            target_modules=targets,
            use_dora=settings.type == "dora",
            init_lora_weights=True,
        )
    if settings.type == "lokr":
        return LoKrConfig(
            r=settings.rank,
            alpha=settings.alpha,
            rank_dropout=settings.rank_dropout,
            module_dropout=settings.module_dropout,
            decompose_factor=settings.lokr_factor,
            target_modules=targets,
        )
    raise UserInputError(f"network.type '{settings.type}' is not one of lora, dora, lokr")


def select_connector_modules(connectors: nn.Module) -> list[str]:
    """Every Linear of the text connectors (trained only with train_text_encoder, SOP F)."""
    return [name for name, module in connectors.named_modules() if isinstance(module, nn.Linear)]


class Network:
    """The adapters injected into the transformer (and the text connectors when the text
    side trains), and everything done with them."""

    def __init__(self, transformer: nn.Module, settings: NetworkSettings, connectors: nn.Module | None = None):
        self.transformer = transformer
        self.connectors = connectors
        self.settings = settings
        self.targets = select_target_modules(transformer, settings)
        transformer.add_adapter(_peft_config(settings, self.targets), adapter_name=ADAPTER_NAME)
        self.connector_targets: list[str] = []
        if connectors is not None:
            self.connector_targets = select_connector_modules(connectors)
            connectors.add_adapter(_peft_config(settings, self.connector_targets), adapter_name=ADAPTER_NAME)
        for module in self._modules():
            _mark_adapter_trainable(module)
        self._hooks = self._install_dropout_hooks()

    def _modules(self) -> list[nn.Module]:
        return [self.transformer] + ([self.connectors] if self.connectors is not None else [])

    # ------------------------------------------------------------------ training helpers
    def parameters(self) -> list[nn.Parameter]:
        return [p for module in self._modules() for p in module.parameters() if p.requires_grad]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def set_enabled(self, enabled: bool) -> None:
        """Turn the adapters off to get the base model's prediction (voice preservation)."""
        for module in self._modules():
            if enabled:
                module.enable_adapters()
            else:
                module.disable_adapters()

    def _install_dropout_hooks(self) -> list:
        """Rank and module dropout for LoRA (peft has neither; LoKr has its own)."""
        if self.settings.type != "lora" or (self.settings.rank_dropout <= 0 and self.settings.module_dropout <= 0):
            return []
        hooks = []
        rank_p, module_p = self.settings.rank_dropout, self.settings.module_dropout
        named = [item for module in self._modules() for item in module.named_modules()]
        for name, module in named:
            if name.endswith(f"lora_A.{ADAPTER_NAME}") and rank_p > 0:
                hooks.append(module.register_forward_hook(_rank_dropout_hook(rank_p)))
            if name.endswith(f"lora_B.{ADAPTER_NAME}") and module_p > 0:
                hooks.append(module.register_forward_hook(_module_dropout_hook(module_p)))
        return hooks

    # ------------------------------------------------------------------ state
    def peft_state_dict(self) -> dict[str, torch.Tensor]:
        """Adapter tensors keyed `transformer.<module>.lora_A.weight` / `connectors.<module>...`."""
        from peft.utils import get_peft_model_state_dict

        state = {f"transformer.{k}": v for k, v in get_peft_model_state_dict(self.transformer, adapter_name=ADAPTER_NAME).items()}
        if self.connectors is not None:
            connector_state = get_peft_model_state_dict(self.connectors, adapter_name=ADAPTER_NAME)
            state.update({f"connectors.{k}": v for k, v in connector_state.items()})
        return state

    def load_peft_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        from peft.utils import set_peft_model_state_dict

        for prefix, module in (("transformer.", self.transformer), ("connectors.", self.connectors)):
            part = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            if module is None:
                if part:
                    raise UserInputError("LoRA file has text-connector keys but train.train_text_encoder is off")
                continue
            result = set_peft_model_state_dict(module, part, adapter_name=ADAPTER_NAME)
            unexpected = getattr(result, "unexpected_keys", None) or []
            if unexpected:
                raise UserInputError(f"LoRA file has keys this network does not have, e.g. {unexpected[:3]}")

    def _scale(self) -> float:
        return self.settings.alpha / self.settings.rank

    def export_state_dict(self, fmt: str = "comfyui", dtype: torch.dtype = torch.bfloat16) -> dict[str, torch.Tensor]:
        """The file contents: alpha folded into lora_B (so alpha = rank on load), keys in `fmt`."""
        state = {}
        scale = self._scale() if self.settings.type in ("lora", "dora") else 1.0
        for key, value in self.peft_state_dict().items():
            value = value.detach().float()
            if ".lora_B." in key:
                value = value * scale
            out_key = to_comfy_key(key) if fmt == "comfyui" else key
            state[out_key] = value.to(dtype).contiguous()
        return state

    def save(self, path: Path, fmt: str = "comfyui", dtype: torch.dtype = torch.bfloat16, extra_metadata=None) -> Path:
        """Write the LoRA file atomically (temp file in the same folder + rename)."""
        from safetensors.torch import save_file

        metadata = {
            "format": "pt",
            "ltx2_trainer.network_type": self.settings.type,
            "ltx2_trainer.rank": str(self.settings.rank),
            # alpha is folded into the weights: a loader must use alpha = rank (scale 1)
            "ltx2_trainer.alpha_folded": "true",
            "ss_network_dim": str(self.settings.rank),
            "ss_network_alpha": str(self.settings.rank),
        }
        if fmt == "diffusers":
            metadata["lora_adapter_metadata"] = json.dumps(
                {"r": self.settings.rank, "lora_alpha": self.settings.rank, "target_modules": self.targets,
                 "use_dora": self.settings.type == "dora"}
            )
        metadata.update({k: str(v) for k, v in (extra_metadata or {}).items()})
        return atomic_save_safetensors(self.export_state_dict(fmt, dtype), path, metadata, save_file)

    def load_file(self, path: str | os.PathLike) -> None:
        """Start from a saved LoRA (`network.pretrained_lora_path`): either key format."""
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise UserInputError(f"network.pretrained_lora_path '{path}' does not exist")
        state = from_comfy_state_dict(load_file(str(path)))
        scale = self._scale() if self.settings.type in ("lora", "dora") else 1.0
        state = {k: (v.float() / scale if ".lora_B." in k else v.float()) for k, v in state.items()}
        self.load_peft_state_dict(state)


def _mark_adapter_trainable(module: nn.Module) -> None:
    """Only adapter weights train, in float32 whatever the base dtype; the wrapped forward
    casts activations back, so outputs keep the input dtype."""
    for name, param in module.named_parameters():
        is_adapter = ("lora_" in name or "lokr_" in name) and ADAPTER_NAME in name
        param.requires_grad_(is_adapter)
        if is_adapter:
            param.data = param.data.float()


def atomic_save_safetensors(state: dict, path: Path, metadata: dict, save_file) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(state, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _rank_dropout_hook(p: float):
    """Zero whole rank channels of lora_A's output (B, ..., r), rescaled, in training only."""

    def hook(module, inputs, output):
        if not module.training:
            return output
        keep = (torch.rand(output.shape[-1], device=output.device) >= p).to(output.dtype)
        return output * keep / (1.0 - p)

    return hook


def _module_dropout_hook(p: float):
    """Drop one LoRA module's whole contribution for a step, in training only."""

    def hook(module, inputs, output):
        if module.training and torch.rand(()) < p:
            return output * 0.0
        return output

    return hook

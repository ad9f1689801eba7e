"""The trainable network on the transformer: LoRA, DoRA and LoKr through peft.

peft injects the adapters (`transformer.add_adapter`); this module owns what peft lacks:
which modules are targeted (audio modules left out of a video-only LoRA), rank and module
dropout for plain LoRA, and the on-disk formats (ComfyUI keys by default, diffusers keys on
request), with alpha folded into the weights so every loader reads the same scale.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import LoKrConfig, LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from toolkit.atomic import atomic_save_tensors
from toolkit.configuration.automatic import alpha_for
from toolkit.configuration.defaults import config_field
from toolkit.errors import UserInputError
from toolkit.family.interface import BOTH_READERS, COMFYUI_READER, DIFFUSERS_READER, LoraKeyNamer
from toolkit.family.registry import default_family, heavy_half
from toolkit.lora.peft_patches import QuantSafeDora, install_dtype_guards, install_quant_safe_dora
from toolkit.lora.pretrained import check_lora_file
from toolkit.memory.lora_precision import cast_before_add, use_compute_dtype
from toolkit.memory.qtensor import dequantize_weight
from toolkit.processes.parallel import full_tensor

ADAPTER_NAME = "default"
AUDIO_MODULE_NAMES = ("audio_attn1", "audio_attn2", "audio_ff", "audio_to_video_attn", "video_to_audio_attn")
# peft's rank_pattern / alpha_pattern key for the audio-side modules (peft matches it against
# the end of each module name: `(.*\.)?(KEY)$`), also written into diffusers-format files.
AUDIO_PATTERN = rf"({'|'.join(AUDIO_MODULE_NAMES)})\..*"


def is_audio_module(name: str) -> bool:
    """The module (or parameter) belongs to the audio side: audio self- and text
    attention, audio feed-forward and the audio<->video cross-attention (the modules a
    video-only LoRA leaves out; `train.audio_lr` and `network.audio_linear` act on them)."""
    return any(part in AUDIO_MODULE_NAMES for part in name.split("."))


@dataclass
class NetworkSettings:
    """The network section; each default is the config's (toolkit/configuration/defaults.py)."""

    type: str = config_field("network.type")  # lora | dora | lokr
    rank: int = config_field("network.linear")
    alpha: float | None = None  # None: the rank, as a config that leaves linear_alpha out
    dropout: float = config_field("network.dropout")
    rank_dropout: float = config_field("network.rank_dropout")
    module_dropout: float = config_field("network.module_dropout")
    lokr_factor: int = config_field("network.lokr_factor")
    # network.train_audio_modules follows the datasets (on when one has audio), which a network
    # built without a config does not know: it trains the audio modules, as a voice run does.
    include_audio: bool = True
    only_if_contains: list[str] = config_field("network.network_kwargs.only_if_contains")
    ignore_if_contains: list[str] = config_field("network.network_kwargs.ignore_if_contains")
    # The LTX-2 version ("2.0", "2.3", "2.5") the network belongs to: recorded in every file,
    # and a file of another version is refused (a LoRA only works on the model it was trained on).
    model_version: str = ""
    # Memory levers (a) and (f) (toolkit/memory/lora_precision.py), resolved by toolkit/memory/levers.py:
    # "float32" is peft's own way; "compute" multiplies in the model's dtype with float32 weights.
    lora_precision: str = "float32"
    lora_cast_before_add: bool = False
    # network.audio_linear / audio_linear_alpha: the audio-side modules' own rank (lora, dora)
    audio_rank: int | None = None
    audio_alpha: float | None = None

    def __post_init__(self) -> None:
        if self.alpha is None:
            self.alpha = alpha_for(self.rank)


def select_target_modules(transformer: nn.Module, settings: NetworkSettings) -> list[str]:
    """Names of the Linear layers inside the transformer blocks that the network wraps."""
    names = []
    for name, module in transformer.named_modules():
        if not isinstance(module, nn.Linear) or not name.startswith("transformer_blocks."):
            continue
        if not settings.include_audio and is_audio_module(name):
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
    if settings.type in ("lora", "dora"):
        audio = settings.audio_rank is not None and any(is_audio_module(t) for t in targets)
        return LoraConfig(
            r=settings.rank,
            lora_alpha=settings.alpha,
            lora_dropout=settings.dropout,
            target_modules=targets,
            use_dora=settings.type == "dora",
            init_lora_weights=True,
            rank_pattern={AUDIO_PATTERN: settings.audio_rank} if audio else {},
            alpha_pattern={AUDIO_PATTERN: settings.audio_alpha} if audio else {},
        )
    if settings.type == "lokr":
        return LoKrConfig(
            r=settings.rank,
            alpha=settings.alpha,
            rank_dropout=settings.rank_dropout,
            rank_dropout_scale=True,  # rescale the kept rows, as the LoRA rank dropout does
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

    def __init__(self, transformer: nn.Module, settings: NetworkSettings, connectors: nn.Module | None = None,
                 device: torch.device | None = None, key_namer: LoraKeyNamer | None = None):
        """`device`: where the adapter parameters live (the compute device). peft puts them on
        the device of each base weight, which for an offloaded layer is the CPU. `key_namer`:
        the names of the LoRA file's keys, handed by the model (`model.lora_key_namer`, as
        ai-toolkit's model converts LoRA weights before save and after load); a network built
        without a model (tools, benchmarks) names them as the default family does."""
        self.transformer = transformer
        self.connectors = connectors
        self.settings = settings
        self.key_namer = key_namer if key_namer is not None else heavy_half(default_family()).KEY_NAMER
        self.targets = select_target_modules(transformer, settings)
        with warnings.catch_warnings():
            # peft, per torchao layer: merging needs a re-quantizer. The trainer never merges.
            warnings.filterwarnings("ignore", message=".*instantiated without `get_apply_tensor_subclass`")
            transformer.add_adapter(_peft_config(settings, self.targets), adapter_name=ADAPTER_NAME)
        self.connector_targets: list[str] = []
        if connectors is not None:
            self.connector_targets = select_connector_modules(connectors)
            connectors.add_adapter(_peft_config(settings, self.connector_targets), adapter_name=ADAPTER_NAME)
        for module in self._modules():
            _mark_adapter_trainable(module, device)
            if settings.type == "dora":
                # peft's DoRA cannot read quantized (quanto from bf16) or offloaded weights
                install_quant_safe_dora(module, ADAPTER_NAME)
            if settings.type in ("lora", "dora") and settings.lora_precision == "compute":
                use_compute_dtype(module)  # before any hook is put on the adapter factors
            elif settings.type == "lora" and settings.lora_cast_before_add:
                cast_before_add(module)
            install_dtype_guards(module)
        self._hooks = self._install_dropout_hooks()
        self.saved_keys: list[str] = []  # the keys of the file save() wrote last

    def _modules(self) -> list[nn.Module]:
        return [self.transformer] + ([self.connectors] if self.connectors is not None else [])

    # ------------------------------------------------------------------ training helpers
    def parameters(self) -> list[nn.Parameter]:
        """The trainable parameters as they are now (FSDP replaces them when it shards: never
        keep this list across a wrap; the training loop uses the optimizer's own list)."""
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
        """Rank and module dropout for LoRA and DoRA (peft has neither; LoKr has its own).

        Rank dropout zeroes lora_A output channels (DoRA's weight norm reads the adapter
        weights directly, so the hook never runs inside it). Module dropout zeroes a module's
        whole contribution: lora_B's output for LoRA, the DoRA delta for DoRA."""
        if self.settings.type not in ("lora", "dora") or (self.settings.rank_dropout <= 0 and self.settings.module_dropout <= 0):
            return []
        hooks = []
        rank_p, module_p = self.settings.rank_dropout, self.settings.module_dropout
        module_suffix = "lora_B" if self.settings.type == "lora" else "lora_magnitude_vector"
        named = [item for module in self._modules() for item in module.named_modules()]
        for name, module in named:
            if name.endswith(f"lora_A.{ADAPTER_NAME}") and rank_p > 0:
                hooks.append(module.register_forward_hook(_rank_dropout_hook(rank_p)))
            if name.endswith(f"{module_suffix}.{ADAPTER_NAME}") and module_p > 0:
                hooks.append(module.register_forward_hook(_module_dropout_hook(module_p)))
        return hooks

    # ------------------------------------------------------------------ state
    def peft_state_dict(self) -> dict[str, torch.Tensor]:
        """Adapter tensors keyed `transformer.<module>.lora_A.weight` / `connectors.<module>...`.
        With a sharded transformer (FSDP) the shards are gathered whole: every rank must call it."""
        transformer_state = get_peft_model_state_dict(self.transformer, adapter_name=ADAPTER_NAME)
        state = {f"transformer.{k}": full_tensor(v) for k, v in transformer_state.items()}
        if self.connectors is not None:
            connector_state = get_peft_model_state_dict(self.connectors, adapter_name=ADAPTER_NAME)
            state.update({f"connectors.{k}": v for k, v in connector_state.items()})
        return state

    def load_peft_state_dict(self, state: dict[str, torch.Tensor]) -> None:
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

    def adds_nothing(self) -> bool:
        """True when the adapters change no output yet: every adapted module's update is a
        product with an all-zero factor (peft starts lora_B and LoKr's w1 at zero), so a render
        with the network on is the base model's, bit for bit. Never for DoRA: it rescales each
        base weight row by magnitude / norm, the norm computed again at every forward (by the
        quant-safe DoRA for quantized or offloaded weights too), which is exactly 1 only while
        both computations round alike."""
        if self.settings.type == "dora":
            return False
        zero_factor: dict[str, bool] = {}
        for key, tensor in self.peft_state_dict().items():
            module = key.rpartition(".lokr_" if ".lokr_" in key else ".lora_")[0]
            zero_factor[module] = zero_factor.get(module, False) or not bool(tensor.count_nonzero())
        return bool(zero_factor) and all(zero_factor.values())

    def _scale(self, key: str = "") -> float:
        """alpha/rank of the module a state key belongs to (the audio side's own with
        network.audio_linear)."""
        s = self.settings
        if s.audio_rank is not None and key.startswith("transformer.") and is_audio_module(key):
            return s.audio_alpha / s.audio_rank
        return s.alpha / s.rank

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(the other trainable parameters, the audio-side ones), each in `parameters()`
        order: train.audio_lr gives the second its own optimizer group."""
        other, audio = [], []
        for module in self._modules():
            prefix = "transformer." if module is self.transformer else "connectors."
            for name, param in module.named_parameters():
                if param.requires_grad:
                    (audio if prefix == "transformer." and is_audio_module(name) else other).append(param)
        return other, audio

    def _is_scaled(self, key: str) -> bool:
        """The one factor per module that carries the folded alpha/rank scale."""
        if self.settings.type == "lokr":
            return key.endswith((".lokr_w1", ".lokr_w1_a"))
        return ".lora_B." in key

    def export_state_dict(self, fmt: str = "comfyui", dtype: torch.dtype = torch.bfloat16) -> dict[str, torch.Tensor]:
        """The file contents: alpha/rank folded into lora_B (LoKr: into lokr_w1), so every loader
        reads the update with alpha = rank; keys in `fmt`.

        DoRA: `lora_magnitude_vector` is what diffusers and peft read (diffusers drops
        `dora_scale`). ComfyUI files also get `dora_scale`, shaped (out, 1): ComfyUI divides it
        by the norm of the *base* weight rows, where DoRA divides the magnitude by the norm of
        the adapted rows, so it is stored as magnitude * ||W|| / ||W + ΔW|| (same result).

        ComfyUI files hold text-connector tensors under several names, one per program and
        ComfyUI home (the model's key namer: for LTX-2 lora_format/lora_keys.py `comfy_file_keys`); each name gets only what its
        reader uses."""
        state = {}
        # 2.0 (one shared text projection): ComfyUI's text encoder runs its own connector copy
        te_connectors = self.connectors is not None and hasattr(self.connectors, "text_proj_in")
        for key, value in self.peft_state_dict().items():
            value = value.detach().float()
            if self._is_scaled(key):
                value = value * self._scale(key)
            value = value.to(dtype).contiguous()
            names = self.key_namer.file_keys(key, te_connectors) if fmt == "comfyui" else [(key, BOTH_READERS)]
            magnitude = key.endswith(".lora_magnitude_vector")
            comfy_scale = None
            for out_key, readers in names:
                if not magnitude or DIFFUSERS_READER in readers:
                    # safetensors refuses two names for one storage: the other copies are cloned
                    state[out_key] = value if out_key == names[0][0] else value.clone()
                if magnitude and fmt == "comfyui" and COMFYUI_READER in readers:
                    if comfy_scale is None:
                        comfy_scale = self._comfy_dora_scale(key.removesuffix(".lora_magnitude_vector")).to(dtype)
                    state[out_key.removesuffix("lora_magnitude_vector") + "dora_scale"] = comfy_scale.clone().contiguous()
        return state

    def _comfy_dora_scale(self, module_key: str) -> torch.Tensor:
        root_name, _, path = module_key.partition(".")
        layer = (self.transformer if root_name == "transformer" else self.connectors).get_submodule(path)
        lora_a, lora_b = layer.lora_A[ADAPTER_NAME].weight, layer.lora_B[ADAPTER_NAME].weight
        with torch.no_grad():
            adapted = QuantSafeDora.weight_norm(layer.get_base_layer(), lora_a, lora_b, layer.scaling[ADAPTER_NAME])
            base = torch.linalg.norm(dequantize_weight(layer.get_base_layer(), torch.float32, lora_a.device), dim=1)
            magnitude = layer.lora_magnitude_vector[ADAPTER_NAME].weight.detach().float()
        return (magnitude * base / adapted).reshape(-1, 1)

    def _lora_adapter_metadata(self) -> dict:
        """diffusers' `lora_adapter_metadata`: peft config keys per prefix ("transformer.r", ...).
        LoKr files carry none: diffusers infers a LoKr config from the shapes (alpha = rank)."""
        if self.settings.type == "lokr":
            return {}
        parts = [("transformer", self.targets)] + ([("connectors", self.connector_targets)] if self.connectors is not None else [])
        metadata = {}
        for prefix, targets in parts:
            config = {"r": self.settings.rank, "lora_alpha": self.settings.rank, "target_modules": targets,
                      "use_dora": self.settings.type == "dora"}
            if prefix == "transformer" and self.settings.audio_rank is not None:
                # alpha is folded into the weights: every module reads alpha = its own rank
                config["rank_pattern"] = {AUDIO_PATTERN: self.settings.audio_rank}
                config["alpha_pattern"] = {AUDIO_PATTERN: self.settings.audio_rank}
            metadata.update({f"{prefix}.{k}": v for k, v in config.items()})
        return metadata

    def save(self, path: Path, fmt: str = "comfyui", dtype: torch.dtype = torch.bfloat16, extra_metadata=None) -> Path:
        """Write the LoRA file atomically (toolkit.atomic: temp file, fsync, rename)."""
        metadata = {
            "format": "pt",
            "ltx2_trainer.network_type": self.settings.type,
            "ltx2_trainer.rank": str(self.settings.rank),
            # alpha is folded into the weights: a loader must use alpha = rank (scale 1)
            "ltx2_trainer.alpha_folded": "true",
            "ss_network_dim": str(self.settings.rank),
            "ss_network_alpha": str(self.settings.rank),
        }
        if self.settings.audio_rank is not None:  # each module's rank is its weights' shape
            metadata["ltx2_trainer.audio_rank"] = str(self.settings.audio_rank)
        adapter_metadata = self._lora_adapter_metadata() if fmt == "diffusers" else {}
        if adapter_metadata:
            metadata["lora_adapter_metadata"] = json.dumps(adapter_metadata, sort_keys=True)
        if self.settings.model_version:
            metadata[MODEL_VERSION_KEY] = self.settings.model_version
        metadata.update({k: str(v) for k, v in (extra_metadata or {}).items()})
        state = self.export_state_dict(fmt, dtype)
        self.saved_keys = sorted(state)  # extensions_built_in/diffusion_models/ltx2/lora_format/comfy_check.py checks them against ComfyUI's rules
        return atomic_save_tensors(path, state, metadata)

    def load_file(self, path: str | os.PathLike) -> None:
        """Start from a saved LoRA (`network.pretrained_lora_path`): either key format.
        (ComfyUI's `dora_scale` is derived data: the magnitude vector is read instead.)"""
        path = check_lora_file(path)
        self.check_file_version(path, "network.pretrained_lora_path")
        raw = {k: v for k, v in load_file(str(path)).items() if not k.endswith(".dora_scale")}
        state = self.key_namer.from_file(raw)
        state = {k: (v.float() / self._scale(k) if self._is_scaled(k) else v.float()) for k, v in state.items()}
        self.load_peft_state_dict(state)

    def check_file_version(self, path: Path, what: str) -> None:
        """Refuse a file written for another LTX-2 version (its metadata says which)."""
        found = file_model_version(path)
        mine = self.settings.model_version
        if found and mine and found != mine:
            raise UserInputError(
                f"{what} '{path}' is a LoRA for LTX-{found}, but this run trains LTX-{mine}: a LoRA only works "
                f"on the version it was trained on (use an LTX-{mine} LoRA, or set model.arch to the file's version)"
            )


MODEL_VERSION_KEY = "ltx2_trainer.model_version"


def file_model_version(path: str | os.PathLike) -> str:
    """The LTX-2 version recorded in a LoRA file's metadata ('' when none is recorded)."""
    with safe_open(str(path), "pt") as handle:
        return (handle.metadata() or {}).get(MODEL_VERSION_KEY, "")


def _mark_adapter_trainable(module: nn.Module, device: torch.device | None = None) -> None:
    """Only adapter weights train, in float32 whatever the base dtype (on `device` when
    given); the wrapped forward casts activations back, so outputs keep the input dtype."""
    for name, param in module.named_parameters():
        is_adapter = ("lora_" in name or "lokr_" in name) and ADAPTER_NAME in name
        param.requires_grad_(is_adapter)
        if is_adapter:
            moved = param.data.to(device=device, dtype=torch.float32)
            if torch._has_compatible_shallow_copy_type(param.data, moved):
                param.data = moved
            else:  # fake tensors of two devices (the memory trace, jobs/process/memory_trace.py)
                torch.utils.swap_tensors(param, nn.Parameter(moved, requires_grad=True))


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

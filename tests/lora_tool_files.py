"""Tiny LTX-2 LoRA files in the layouts other trainers write (read in their code, for facts;
docs/lora_tools.md lists them), each with the update it stands for, for the lora_tools tests.

Keys are written here by hand from each layout's description, not by the code under test:

- musubi-tuner: `lora_unet_model_<original layer path, dots as underscores>.lora_down.weight`,
  `.lora_up.weight`, `.alpha` (scale alpha / rank); DoRA `.lora_magnitude_vector.weight`; LoKr
  `.lokr_w1`, `.lokr_w2_a`, `.lokr_w2_b`, `.alpha` (scale alpha / rank of w2); metadata
  `ss_ltx_version`, `modelspec.architecture` "LTX2/lora".
- ai-toolkit: `diffusion_model.<original path>.lora_A.weight` / `.lora_B.weight`, no alpha (scale
  1); DoRA `.magnitude`; LoKr `.lokr_w1`, `.lokr_w2` + `.alpha`; metadata `software`
  (name ai-toolkit), `training_info`, `ss_base_model_version` "ltx2".
- ltx-trainer: `diffusion_model.<original path>.lora_A.weight` / `.lora_B.weight` straight from
  peft, no alpha, no trainer metadata.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

from extensions_built_in.diffusion_models.ltx2.weights.keys_dit import DIT_PREFIX, transformer_key


def original_name(path: str) -> str:
    """A transformer layer's name in the original checkpoint (ComfyUI's names)."""
    return transformer_key(f"{path}.weight").removeprefix(DIT_PREFIX).removesuffix(".weight")


def linear_layers(transformer) -> dict[str, tuple[int, int]]:
    """Every Linear of the transformer: {diffusers path: (out, in)}."""
    return {name: (m.out_features, m.in_features) for name, m in transformer.named_modules()
            if isinstance(m, torch.nn.Linear)}


def pick_layers(transformer, blocks=(0, 1), top_level=()) -> dict[str, tuple[int, int]]:
    """The block layers of `blocks` plus the named top-level layers."""
    return {name: shape for name, shape in linear_layers(transformer).items()
            if any(name.startswith(f"transformer_blocks.{b}.") for b in blocks) or name in top_level}


@dataclass
class ForeignLora:
    """A written file and what it means: {transformer path: ΔW} at strength 1 (DoRA: the
    magnitude too)."""

    path: Path
    deltas: dict[str, torch.Tensor]
    magnitudes: dict[str, torch.Tensor] = field(default_factory=dict)

    def apply(self, transformer, strength: float = 1.0):
        """A copy of `transformer` with this file's update merged into its weights."""
        merged = copy.deepcopy(transformer)
        with torch.no_grad():
            for path, delta in self.deltas.items():
                layer = merged.get_submodule(path)
                adapted = layer.weight.float() + strength * delta
                if path in self.magnitudes:
                    adapted = adapted * (self.magnitudes[path] / adapted.norm(dim=1)).reshape(-1, 1)
                layer.weight.copy_(adapted)
        return merged


def _lora_factors(gen, out_features, in_features, rank):
    down = torch.randn(rank, in_features, generator=gen) * 0.3
    up = torch.randn(out_features, rank, generator=gen) * 0.3
    return down, up


def _magnitude(gen, base_weight, delta):
    return (base_weight.float() + delta).norm(dim=1) * (1 + 0.2 * torch.rand(delta.shape[0], generator=gen))


def _lokr_factors(gen, out_features, in_features, rank):
    """w1 (full, small) and w2 = w2_a @ w2_b: out = 2 x out/2, in = 2 x in/2."""
    w1 = torch.randn(2, 2, generator=gen) * 0.5
    w2_a = torch.randn(out_features // 2, rank, generator=gen) * 0.3
    w2_b = torch.randn(rank, in_features // 2, generator=gen) * 0.3
    return w1, w2_a, w2_b


def musubi_file(path: Path, transformer, layers: dict, kind: str = "lora", rank: int = 4, alpha: float = 2.0,
                version: str = "2.3", seed: int = 0) -> ForeignLora:
    gen = torch.Generator().manual_seed(seed)
    state, result = {}, ForeignLora(path, {})
    for name, (out_features, in_features) in sorted(layers.items()):
        stem = "lora_unet_model_" + original_name(name).replace(".", "_")
        state[f"{stem}.alpha"] = torch.tensor(float(alpha))
        if kind == "lokr":
            w1, w2_a, w2_b = _lokr_factors(gen, out_features, in_features, rank)
            state.update({f"{stem}.lokr_w1": w1, f"{stem}.lokr_w2_a": w2_a, f"{stem}.lokr_w2_b": w2_b})
            result.deltas[name] = torch.kron(w1, w2_a @ w2_b) * (alpha / rank)
            continue
        down, up = _lora_factors(gen, out_features, in_features, rank)
        state.update({f"{stem}.lora_down.weight": down, f"{stem}.lora_up.weight": up})
        result.deltas[name] = up @ down * (alpha / rank)
        if kind == "dora":
            magnitude = _magnitude(gen, transformer.get_submodule(name).weight, result.deltas[name])
            state[f"{stem}.lora_magnitude_vector.weight"] = magnitude
            result.magnitudes[name] = magnitude
    metadata = {"ss_ltx_version": version, "modelspec.architecture": "LTX2/lora", "ss_network_dim": str(rank),
                "ss_network_alpha": str(alpha), "ss_network_module": "networks.lora"}
    save_file(state, str(path), metadata)
    return result


def ai_toolkit_file(path: Path, transformer, layers: dict, kind: str = "lora", rank: int = 4,
                    seed: int = 1) -> ForeignLora:
    gen = torch.Generator().manual_seed(seed)
    state, result = {}, ForeignLora(path, {})
    for name, (out_features, in_features) in sorted(layers.items()):
        stem = "diffusion_model." + original_name(name)
        if kind == "lokr":
            w1, w2_a, w2_b = _lokr_factors(gen, out_features, in_features, rank)
            w2 = w2_a @ w2_b
            state.update({f"{stem}.lokr_w1": w1, f"{stem}.lokr_w2": w2, f"{stem}.alpha": torch.tensor(float(rank))})
            result.deltas[name] = torch.kron(w1, w2)  # both factors full: scale 1
            continue
        down, up = _lora_factors(gen, out_features, in_features, rank)
        state.update({f"{stem}.lora_A.weight": down, f"{stem}.lora_B.weight": up})
        result.deltas[name] = up @ down
        if kind == "dora":
            magnitude = _magnitude(gen, transformer.get_submodule(name).weight, result.deltas[name])
            state[f"{stem}.magnitude"] = magnitude
            result.magnitudes[name] = magnitude
    metadata = {"software": json.dumps({"name": "ai-toolkit", "repo": "https://github.com/ostris/ai-toolkit",
                                        "version": "0.7.0"}),
                "training_info": json.dumps({"step": 500, "epoch": 3}), "ss_base_model_version": "ltx2",
                "ss_output_name": "my_character", "format": "pt"}
    save_file(state, str(path), metadata)
    return result


def ltx_trainer_file(path: Path, layers: dict, rank: int = 4, seed: int = 2) -> ForeignLora:
    gen = torch.Generator().manual_seed(seed)
    state, result = {}, ForeignLora(path, {})
    for name, (out_features, in_features) in sorted(layers.items()):
        stem = "diffusion_model." + original_name(name)
        down, up = _lora_factors(gen, out_features, in_features, rank)
        state.update({f"{stem}.lora_A.weight": down, f"{stem}.lora_B.weight": up})
        result.deltas[name] = up @ down
    save_file(state, str(path))
    return result


# ---------------------------------------------------------------------------- shared set
VERSION = "2.3"


class LoraFiles:
    """The tiny 2.3 model and the lora_tools tests' files, each made once per session on first
    use (tests/conftest.py `lora_files`). Tests read these files and write under their own
    tmp_path."""

    def __init__(self, model_dir: Path, folder: Path):
        self.model_dir, self.folder = Path(model_dir), Path(folder)
        self._made: dict[str, object] = {}
        self._pipeline = None
        self._transformer = None

    def _once(self, name: str, make):
        if name not in self._made:
            self._made[name] = make(self.folder / f"{name}.safetensors")
        return self._made[name]

    @property
    def transformer(self):
        """The base transformer (never modified: tests apply files to copies)."""
        if self._transformer is None:
            from network_helpers import load_transformer

            self._transformer = load_transformer(self.model_dir).eval()
        return self._transformer

    def pipeline(self):
        """diffusers' LTX2Pipeline on the tiny model, loaded once; callers unload what they load."""
        if self._pipeline is None:
            from diffusers import LTX2Pipeline

            self._pipeline = LTX2Pipeline.from_pretrained(str(self.model_dir))
        return self._pipeline

    def layers(self, top_level=()) -> dict:
        return pick_layers(self.transformer, top_level=top_level)

    def ours(self, network_type: str, fmt: str = "comfyui", connectors: bool = False) -> Path:
        """A file this trainer wrote: every adapter weight moved off its start, alpha != rank."""

        def make(path):
            from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
            from network_helpers import load_transformer, perturb_adapters

            from toolkit.lora.network import Network, NetworkSettings

            transformer = load_transformer(self.model_dir)
            text = LTX2TextConnectors.from_pretrained(str(self.model_dir), subfolder="connectors").requires_grad_(False) \
                if connectors else None
            torch.manual_seed(0)
            network = Network(transformer, NetworkSettings(type=network_type, rank=4, alpha=8.0, model_version=VERSION),
                              connectors=text)
            perturb_adapters(transformer, scale=0.1)
            if text is not None:
                perturb_adapters(text, scale=0.1, seed=2)
            return network.save(path, fmt=fmt, dtype=torch.float32)

        return self._once(f"ours_{network_type}_{fmt}" + ("_text" if connectors else ""), make)

    def musubi(self, kind: str = "lora") -> ForeignLora:
        return self._once(f"musubi_{kind}", lambda p: musubi_file(p, self.transformer, self.layers(), kind))

    def ai_toolkit(self, kind: str = "lora") -> ForeignLora:
        return self._once(f"aitk_{kind}", lambda p: ai_toolkit_file(p, self.transformer, self.layers(), kind))

    def ltx_trainer(self) -> ForeignLora:
        return self._once("ltx_trainer", lambda p: ltx_trainer_file(p, self.layers()))

    def with_shared_layers(self) -> ForeignLora:
        """An ltx-trainer-style file that also adapts the a<->v cross-attention scale/shift."""
        top = ("av_cross_attn_video_scale_shift.linear", "av_cross_attn_audio_scale_shift.linear")
        return self._once("shared", lambda p: ltx_trainer_file(p, self.layers(top_level=top), seed=5))

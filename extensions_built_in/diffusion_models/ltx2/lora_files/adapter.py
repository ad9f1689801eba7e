"""One layer's adapter as read from a LoRA file, with its scale folded in (what every loader
applies at strength 1 with no alpha): LoRA `lora_B @ lora_A`, DoRA the same plus a magnitude
per output row, LoKr `kron(w1, w2)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import (
    DORA_SCALE,
    LOKR_ROLES,
    LORA_A,
    LORA_B,
    MAGNITUDE,
)

LORA, DORA, LOKR = "LoRA", "DoRA", "LoKr"


class AdapterError(ValueError):
    """A layer whose tensors do not make one adapter (missing factor, mismatched shapes)."""


def kind_of(roles: set[str]) -> str:
    """LoRA, DoRA or LoKr from the roles a layer's tensors have."""
    lokr = roles & set(LOKR_ROLES)
    if lokr:
        if roles & {MAGNITUDE, DORA_SCALE}:
            raise AdapterError("DoRA on LoKr factors (musubi-tuner's DoKr) is not supported by these tools")
        if "lokr_t2" in lokr:
            raise AdapterError("a LoKr with a CP-decomposed factor (lokr_t2, for convolutions) is not an LTX-2 layer")
        if not ({"lokr_w1"} <= lokr or {"lokr_w1_a", "lokr_w1_b"} <= lokr) or not (
                {"lokr_w2"} <= lokr or {"lokr_w2_a", "lokr_w2_b"} <= lokr):
            raise AdapterError(f"incomplete LoKr factors ({', '.join(sorted(lokr))})")
        return LOKR
    if not {LORA_A, LORA_B} <= roles:
        have = ", ".join(sorted(roles)) or "nothing"
        raise AdapterError(f"has {have} but not both lora_A (down) and lora_B (up)")
    return DORA if roles & {MAGNITUDE, DORA_SCALE} else LORA


@dataclass
class ModuleAdapter:
    kind: str
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    # ------------------------------------------------------------------ shapes
    @property
    def rank(self) -> int | None:
        """LoRA/DoRA: the rank. LoKr: the rank of its decomposed factor (None when both are full)."""
        if self.kind != LOKR:
            return int(self.tensors[LORA_A].shape[0])
        if "lokr_w2_a" in self.tensors:
            return int(self.tensors["lokr_w2_a"].shape[1])
        if "lokr_w1_a" in self.tensors:
            return int(self.tensors["lokr_w1_a"].shape[1])
        return None

    def factor(self, which: str) -> torch.Tensor:
        """LoKr's w1 or w2 as a full matrix (float32)."""
        full = self.tensors.get(f"lokr_{which}")
        if full is not None:
            return full.float()
        return self.tensors[f"lokr_{which}_a"].float() @ self.tensors[f"lokr_{which}_b"].float()

    @property
    def shape(self) -> tuple[int, int]:
        """(out_features, in_features) of the layer the adapter belongs to."""
        if self.kind == LOKR:
            w1, w2 = self._factor_shape("w1"), self._factor_shape("w2")
            return w1[0] * w2[0], w1[1] * w2[1]
        return int(self.tensors[LORA_B].shape[0]), int(self.tensors[LORA_A].shape[1])

    def _factor_shape(self, which: str) -> tuple[int, int]:
        full = self.tensors.get(f"lokr_{which}")
        if full is not None:
            return int(full.shape[0]), int(full.shape[1])
        return int(self.tensors[f"lokr_{which}_a"].shape[0]), int(self.tensors[f"lokr_{which}_b"].shape[1])

    def check(self) -> None:
        """AdapterError when the factors do not fit together."""
        if self.kind == LOKR:
            for which in ("w1", "w2"):
                a, b = self.tensors.get(f"lokr_{which}_a"), self.tensors.get(f"lokr_{which}_b")
                if a is not None and (a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]):
                    raise AdapterError(f"lokr_{which}_a {tuple(a.shape)} and lokr_{which}_b {tuple(b.shape)} do not multiply")
            return
        a, b = self.tensors[LORA_A], self.tensors[LORA_B]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise AdapterError(f"lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)} do not multiply")
        out_features = b.shape[0]
        for role in (MAGNITUDE, DORA_SCALE):
            if role in self.tensors and self.tensors[role].numel() != out_features:
                raise AdapterError(f"{role} has {self.tensors[role].numel()} values for {out_features} output rows")

    # ------------------------------------------------------------------ values
    def delta(self) -> torch.Tensor:
        """ΔW (out x in, float32) at strength 1. DoRA: the direction update; the layer then
        computes with m / ||W + ΔW|| (row-wise) * (W + ΔW)."""
        if self.kind == LOKR:
            return torch.kron(self.factor("w1"), self.factor("w2"))
        return self.tensors[LORA_B].float() @ self.tensors[LORA_A].float()

    def scaled(self, factor: float) -> ModuleAdapter:
        """The same adapter with ΔW multiplied by `factor` (one factor carries it)."""
        if self.kind == DORA:
            raise AdapterError("a DoRA cannot be scaled: its magnitude rescales whole weight rows")
        key = LORA_B if self.kind == LORA else ("lokr_w1" if "lokr_w1" in self.tensors else "lokr_w1_a")
        tensors = dict(self.tensors)
        tensors[key] = (tensors[key].float() * factor).to(tensors[key].dtype)
        return ModuleAdapter(self.kind, tensors)

    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self.tensors.values())).dtype

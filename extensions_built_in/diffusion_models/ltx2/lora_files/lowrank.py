"""Singular value decompositions of adapter updates, without forming a large ΔW when its
factors allow: B @ A through two thin QR factorisations (an r x r SVD), kron(w1, w2) from the
SVDs of its factors (the singular values of a Kronecker product are the products of theirs).
A sum of such terms of different kinds is formed densely.

Truncating to rank R keeps the best rank-R approximation (Eckart-Young): the Frobenius error is
the root of the dropped squared singular values, and the retained energy their complement.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from extensions_built_in.diffusion_models.ltx2.lora_files.adapter import LOKR, LORA, ModuleAdapter
from extensions_built_in.diffusion_models.ltx2.lora_files.key_format import LORA_A, LORA_B


@dataclass
class Spectrum:
    """ΔW = left @ diag(values) @ right, values descending."""

    left: torch.Tensor  # out x k' (k' <= k: only the vectors a caller can use may be formed)
    values: torch.Tensor  # k, all of them (the energy needs every one)
    right: torch.Tensor  # k' x in

    @property
    def energy(self) -> float:
        return float(self.values.double().square().sum())

    def retained(self, rank: int) -> float:
        """Share of ||ΔW||² kept by the first `rank` singular values (1.0 for a zero update)."""
        total = self.energy
        return float(self.values[:rank].double().square().sum()) / total if total > 0 else 1.0

    def truncated(self, rank: int, dtype: torch.dtype) -> ModuleAdapter:
        """A LoRA of rank min(rank, k); the singular values are split evenly between the two
        factors (sqrt each), which keeps both in a similar range for low-precision files."""
        rank = max(1, min(rank, self.left.shape[1]))
        root = self.values[:rank].clamp_min(0).sqrt()
        lora_b = (self.left[:, :rank] * root).to(dtype).contiguous()
        lora_a = (root.reshape(-1, 1) * self.right[:rank]).to(dtype).contiguous()
        return ModuleAdapter(LORA, {LORA_A: lora_a, LORA_B: lora_b})


def _product(lora_b: torch.Tensor, lora_a: torch.Tensor) -> Spectrum:
    q_b, r_b = torch.linalg.qr(lora_b.double())
    q_a, r_a = torch.linalg.qr(lora_a.double().T)
    u, s, vh = torch.linalg.svd(r_b @ r_a.T)
    return Spectrum((q_b @ u).float(), s.float(), (vh @ q_a.T).float())


def _kron(w1: torch.Tensor, w2: torch.Tensor, limit: int | None) -> Spectrum:
    u1, s1, v1 = torch.linalg.svd(w1.double(), full_matrices=False)
    u2, s2, v2 = torch.linalg.svd(w2.double(), full_matrices=False)
    products = torch.outer(s1, s2).reshape(-1)
    order = torch.argsort(products, descending=True)
    kept = order[:limit] if limit else order
    i, j = kept // s2.numel(), kept % s2.numel()
    left = (u1[:, i].unsqueeze(1) * u2[:, j].unsqueeze(0)).reshape(u1.shape[0] * u2.shape[0], -1)
    right = (v1[i].unsqueeze(2) * v2[j].unsqueeze(1)).reshape(-1, v1.shape[1] * v2.shape[1])
    return Spectrum(left.float(), products[order].float(), right.float())


def _dense(delta: torch.Tensor) -> Spectrum:
    u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
    return Spectrum(u.float(), s.float(), vh.float())


def spectrum(terms: list[tuple[ModuleAdapter, float]], limit: int | None = None) -> Spectrum:
    """The SVD of Σ weight · ΔW over LoRA / LoKr terms of one layer; `limit`: at most that many
    singular vectors are formed (all singular values are)."""
    if all(a.kind == LORA for a, _ in terms):
        lora_b = torch.cat([a.tensors[LORA_B].float() * w for a, w in terms], dim=1)
        lora_a = torch.cat([a.tensors[LORA_A].float() for a, _ in terms], dim=0)
        return _product(lora_b, lora_a)
    if len(terms) == 1 and terms[0][0].kind == LOKR:
        adapter, weight = terms[0]
        return _kron(adapter.factor("w1") * weight, adapter.factor("w2"), limit)
    return _dense(sum(a.delta() * w for a, w in terms))


def _gram_norm_sq(lora_b: torch.Tensor, lora_a: torch.Tensor) -> float:
    """||B @ A||_F² from the two k x k Gram matrices: trace((BᵀB)(AAᵀ)), no out x in matrix."""
    lora_b, lora_a = lora_b.double(), lora_a.double()
    return float(((lora_b.T @ lora_b) * (lora_a @ lora_a.T)).sum())


def lora_norms(terms: list[tuple[ModuleAdapter, float]], merged: ModuleAdapter) -> tuple[float, float]:
    """(||Σ w·ΔW||², ||merged ΔW - Σ w·ΔW||²) for LoRA terms and a LoRA result, from their factors."""
    exact_b = torch.cat([a.tensors[LORA_B].double() * w for a, w in terms], dim=1)
    exact_a = torch.cat([a.tensors[LORA_A].double() for a, _ in terms], dim=0)
    diff_b = torch.cat([exact_b, -merged.tensors[LORA_B].double()], dim=1)
    diff_a = torch.cat([exact_a, merged.tensors[LORA_A].double()], dim=0)
    return _gram_norm_sq(exact_b, exact_a), max(0.0, _gram_norm_sq(diff_b, diff_a))


def kron_norm_sq(w1: torch.Tensor, w2: torch.Tensor) -> float:
    """||kron(w1, w2)||_F² = ||w1||² ||w2||²."""
    return float(w1.double().square().sum() * w2.double().square().sum())

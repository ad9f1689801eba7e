"""Comparing what two copies of a module compute.

Two copies with bit-identical weights do not compute bit-identical outputs on every CPU when
their weights live in different memory (one read from a file, one built in this process; one
loaded from a folder, one from a single file). The CPU kernels (oneDNN's convolutions and
matrix products, ATen's vectorised loops) choose their code path by the instruction set
(ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA: AVX2 here, AVX-512 elsewhere) and by the
operands' memory alignment (safetensors leaves tensors 16 or 48 bytes past a 64-byte
boundary; PyTorch's allocator aligns to 64), and each path adds in its own order.

So the tests compare weights and state dicts bit for bit, and outputs of two such copies with
`assert_outputs_match`: the largest absolute difference may be `RELATIVE[dtype]` of the largest
magnitude of the expected output (integer outputs, such as masks, stay exact). For float32 that is 2e-5, about 170 units of float32's
machine epsilon: reordered sums measured 1.6e-6 of the magnitude (the 2.3/2.5 video VAE
decode on an AVX-512 CPU), and a wrong weight (a swapped or missed key, a bad rename) moves
the outputs by a large fraction of their magnitude, far above the bound.

What stays bit-exact (torch.equal): the same module computing twice in one process (a
sample rendered again, resume, the network switched off and on), weights, state dicts and
files.
"""

from __future__ import annotations

import torch

# Largest |actual - expected| allowed, as a share of max |expected|, per output dtype.
RELATIVE = {torch.float64: 1e-12, torch.float32: 2e-5, torch.bfloat16: 3e-2, torch.float16: 4e-3}


def assert_outputs_match(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """`actual` equals `expected` up to the summation order of the CPU kernels (see above)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (
        f"{what}: {tuple(actual.shape)} {actual.dtype} vs {tuple(expected.shape)} {expected.dtype}")
    if not expected.is_floating_point():  # masks, indices: no arithmetic to reorder
        assert torch.equal(actual, expected), f"{what}: {expected.dtype} outputs differ"
        return
    assert torch.isfinite(expected).all() and torch.isfinite(actual).all(), f"{what}: non-finite output"
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    difference = float((actual.double() - expected.double()).abs().max()) if expected.numel() else 0.0
    allowed = RELATIVE[expected.dtype] * scale
    assert difference <= allowed, (
        f"{what}: outputs differ by {difference:.3g} (allowed {allowed:.3g}: {RELATIVE[expected.dtype]:g} of "
        f"the largest magnitude {scale:.3g})")

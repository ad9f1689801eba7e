"""The cards the plan is made for: memory sizes people own, and three named GPUs' published speeds.

Card sizes are the marketed "N GB" (N GiB of device memory, as torch reports it, less what
the driver keeps). The named GPUs' figures are the vendors' datasheet numbers:

| GPU | memory | bf16 dense tensor FLOP/s (FP32 accumulate) | host link |
|---|---|---|---|
| RTX 4090 | 24 GB | 165.2 TFLOP/s (Ada whitepaper) | PCIe 4.0 x16: 32 GB/s a direction |
| RTX 5090 | 32 GB | 209.5 TFLOP/s (Blackwell whitepaper) | PCIe 5.0 x16: 64 GB/s a direction |
| H100 SXM | 80 GB | 989 TFLOP/s (H100 datasheet) | PCIe 5.0 x16: 64 GB/s a direction |

A step's time is estimated from them in steptime.py, with the assumptions written there.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1000 ** 3

CARD_SIZES = (8, 12, 16, 24, 32)  # the card table's rows (GB)
# Typical cards of each size, for the docs: who owns what.
CARD_EXAMPLES = {8: "RTX 4060, 3070", 12: "RTX 3060 12 GB, 4070", 16: "RTX 4060 Ti 16 GB, 4070 Ti Super, 5070 Ti",
                 24: "RTX 3090, 4090", 32: "RTX 5090"}


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gb: int
    bf16_tflops: float  # dense, FP32 accumulate
    link_gb_s: float  # host link, one direction, theoretical


GPUS = (
    Gpu("RTX 4090", 24, 165.2, 32.0),
    Gpu("RTX 5090", 32, 209.5, 64.0),
    Gpu("H100 SXM", 80, 989.0, 64.0),
)

"""The one table of dtype names a config, a benchmark or a saved file may use."""

from __future__ import annotations

import torch

#: train.dtype / save.dtype / model.dtype / bench --dtype name -> torch dtype.
DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

"""Model-specific config defaults: ONE table, arch -> {dotted key: value}.

The pydantic field defaults in ``toolkit.config_modules`` are read from this table, the
generated docs mark them as "LTX-2 default", and the web UI exports the same table (via
``config_json_schema()["x-model-defaults"]``) so the form and the CLI never drift apart.

The values are the SOP's LTX-2 defaults (section 3.N, 3.Z, 3.AM): rank 32 / alpha 32
(LoRA scale alpha/rank = 1.0), rank dropout 0.1, audio-loss auto-balance on, an
independent audio timestep, noise offset 0.05, Min-SNR off (flow matching has no SNR).
"""

from __future__ import annotations

import copy
from typing import Any

DEFAULT_ARCH = "ltx2"

MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "ltx2": {
        "network.linear": 32,
        "network.linear_alpha": 32.0,
        "network.rank_dropout": 0.1,
        "train.lr": 7.5e-5,
        "train.auto_balance_audio_loss": True,
        "train.independent_audio_timestep": True,
        "train.noise_offset": 0.05,
        "train.min_snr_gamma": 0.0,
    },
}


def model_default(key: str, arch: str = DEFAULT_ARCH) -> Any:
    """The default of dotted ``key`` (``"network.linear"``) for ``arch``; KeyError if absent."""
    return MODEL_DEFAULTS[arch][key]


def model_defaults(arch: str = DEFAULT_ARCH) -> dict[str, Any]:
    """A copy of the whole defaults table of ``arch`` (for export to the UI)."""
    return copy.deepcopy(MODEL_DEFAULTS[arch])

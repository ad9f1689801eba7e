"""What a config may say about its optimizer and learning-rate schedule, checked without torch:
the package each optimizer needs and the parameters each schedule takes (`run.py --validate`
and start-up read these before torch loads; optimizers.py builds them).
"""

from __future__ import annotations

from toolkit.errors import UserInputError

# The package each optimizer needs beyond torch (checked before any caching starts).
OPTIMIZER_PACKAGES: dict[str, tuple[str, str]] = {
    "adamw8bit": ("bitsandbytes", "pip install bitsandbytes (needs a CUDA GPU), or use optimizer: adamw"),
    "prodigy": ("prodigyopt", "pip install prodigyopt"),
    "dadaptation": ("dadaptation", "pip install dadaptation"),
    "adafactor": ("transformers", "pip install transformers"),
}


# lr_scheduler_params each schedule understands (anything else is an error, not a silent no-op).
SCHEDULER_PARAMS: dict[str, dict[str, str]] = {
    "constant": {},
    "constant_with_warmup": {},
    "cosine": {"eta_min": "lowest learning rate at the end of the decay (default 0)"},
    "cosine_with_restarts": {"num_cycles": "number of cosine cycles over the run (default 3)",
                             "eta_min": "lowest learning rate of each cycle (default 0)"},
    "linear": {"end_factor": "learning rate at the end, as a fraction of lr (default 0)"},
}


def check_scheduler_params(name: str, params: dict) -> None:
    allowed = SCHEDULER_PARAMS.get(name, {})
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        known = ", ".join(f"{k} ({why})" for k, why in allowed.items()) or "none"
        raise UserInputError(f"train.lr_scheduler_params {unknown} do not apply to lr_scheduler '{name}'; "
                             f"it takes: {known}")

"""Model-specific config defaults: arch -> {dotted key: value}.

The values live in each model family's version table (LTX-2's:
`extensions_built_in/diffusion_models/ltx2/versions.py`, one entry per version), read through
the family registry (toolkit/family/); this module only exposes them to the config schema.
The pydantic field defaults in ``toolkit.config_modules`` are the default arch's values (what
docs/config.md shows as "LTX-2 default"); a config for another arch gets that arch's values
when it is validated (`apply_arch_defaults`), never at import time. The web UI exports the
same table (``config_json_schema()["x-model-defaults"]``) so the form and the CLI never drift.

The shared values are the SOP's LTX-2 defaults (section 3.N, 3.Z, 3.AM): rank 32 / alpha 32
(LoRA scale alpha/rank = 1.0), rank dropout 0.1, audio-loss auto-balance on, an
independent audio timestep, noise offset 0.05, Min-SNR off (flow matching has no SNR); the
sampling defaults are each version's reference pipeline parameters.
"""

from __future__ import annotations

import copy
from typing import Any

from toolkit.family.registry import all_arch_defaults, default_family, family_for_arch

DEFAULT_ARCH = default_family().default_arch
MODEL_DEFAULTS: dict[str, dict[str, Any]] = all_arch_defaults()


def model_default(key: str, arch: str = DEFAULT_ARCH) -> Any:
    """The default of dotted ``key`` (``"network.linear"``) for ``arch``; KeyError if absent."""
    return MODEL_DEFAULTS[arch][key]


def model_defaults(arch: str = DEFAULT_ARCH) -> dict[str, Any]:
    """A copy of the whole defaults table of ``arch`` (for export to the UI)."""
    return copy.deepcopy(MODEL_DEFAULTS[arch])


def apply_arch_defaults(process: Any) -> Any:
    """Fill a raw process dict's unset keys with its arch's defaults (keys the user wrote win).

    Runs before validation, so an `arch: ltx2.3` config gets 2.3's sampling defaults while the
    schema's own field defaults stay those of the default arch."""
    if not isinstance(process, dict) or not isinstance(process.get("model"), dict):
        return process
    arch = process["model"].get("arch", DEFAULT_ARCH)
    table = MODEL_DEFAULTS.get(family_for_arch(arch).normalise_arch(arch)) if isinstance(arch, str) else None
    if not table:
        return process  # an unknown arch is reported by the schema itself
    out = dict(process)
    schema_defaults = MODEL_DEFAULTS[DEFAULT_ARCH]
    for dotted, value in table.items():
        section, _, key = dotted.partition(".")
        written = process.get(section) if isinstance(process.get(section), dict) else {}
        follows_written = _FOLLOWS.get((section, key)) in written
        if dotted in schema_defaults and schema_defaults[dotted] == value and not follows_written:
            # The schema's own field default already says this; writing it in would make the
            # key look user-set (alpha = rank when absent, the "differs from ai-toolkit" notes).
            continue
        current = out.get(section)
        if current is None:
            current = {}
        if not isinstance(current, dict):
            continue  # a wrong type is reported by the schema itself
        if key in current or _has_alias(section, key, current):
            continue
        leader = _FOLLOWS.get((section, key))
        out[section] = {**current, key: copy.deepcopy(written[leader] if leader in written else value)}
    return out


# A key left out follows the user's value of its leader rather than the table: a config that
# sets only guidance_scale (as configs written before audio had its own scale do) guides the
# audio with it too.
_FOLLOWS = {("sample", "audio_guidance_scale"): "guidance_scale",
            ("sample", "audio_stg_scale"): "stg_scale"}


# Keys whose ai-toolkit alias may stand in for them (the alias counts as "written").
_ALIASES = {("network", "linear"): ("rank",), ("network", "linear_alpha"): ("alpha",)}


def _has_alias(section: str, key: str, data: dict) -> bool:
    return any(alias in data for alias in _ALIASES.get((section, key), ()))

"""The web UI's generated schema (ui/src/generated/config_schema.json) must match Python.

The job form reads its defaults, choices and help texts from that file only; if a setting
is added or a default changes in the trainer and the file is not regenerated, the UI would
silently offer stale values. This test is what catches it.
"""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.configuration import ui_export
from toolkit.configuration.model_defaults import MODEL_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "ui" / "src" / "generated" / "config_schema.json"
REGENERATE = "regenerate it with: .venv/bin/python -m toolkit.configuration.ui_export > " \
             "ui/src/generated/config_schema.json"


def _fields(schema: dict, section: str) -> dict:
    return {f["key"]: f for f in schema["sections"][section]["fields"]}


def test_committed_file_is_current():
    assert GENERATED.exists(), f"{GENERATED} is missing; {REGENERATE}"
    assert GENERATED.read_text(encoding="utf-8") == ui_export.render(), \
        f"{GENERATED.relative_to(ROOT)} is stale; {REGENERATE}"


def test_export_carries_the_sop_ltx2_defaults():
    schema = json.loads(ui_export.render())
    assert schema["modelDefaults"] == json.loads(json.dumps(MODEL_DEFAULTS))
    network = _fields(schema, "config.process[].network")
    train = _fields(schema, "config.process[].train")
    assert network["type"]["enum"] == ["lora", "dora", "lokr"]
    assert network["linear"]["default"] == 32 and network["linear"]["modelDefault"]
    assert network["linear_alpha"]["default"] == 32
    assert network["rank_dropout"]["default"] == 0.1
    assert train["auto_balance_audio_loss"]["default"] is True
    assert train["independent_audio_timestep"]["default"] is True
    assert train["noise_offset"]["default"] == 0.05
    assert train["min_snr_gamma"]["default"] == 0
    assert train["lr"]["default"] == 7.5e-5


def test_every_field_has_help_text_and_sections_resolve():
    schema = json.loads(ui_export.render())
    for path, section in schema["sections"].items():
        for f in section["fields"]:
            assert f["description"], f"{path}.{f['key']} has no description"
            if "section" in f:
                assert f["section"] in schema["sections"], f"{path}.{f['key']}"
            else:
                assert f.get("required") or "default" in f, f"{path}.{f['key']} has no default"

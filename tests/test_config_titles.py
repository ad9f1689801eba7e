"""Every config key has a human label, and the form and docs/config.md show the same one."""

from __future__ import annotations

from toolkit.configuration import docs as config_docs
from toolkit.configuration import ui_export
from toolkit.configuration.titles import TITLES, title_key


def test_every_exported_field_has_a_title():
    schema = ui_export.ui_schema()
    missing, seen = [], set()
    for path, section in schema["sections"].items():
        for field in section["fields"]:
            seen.add(title_key(path, field["key"]))
            if not field.get("title"):
                missing.append(title_key(path, field["key"]))
    assert not missing, f"add labels to toolkit/configuration/titles.py TITLES for: {', '.join(missing)}"
    stale = sorted(set(TITLES) - seen)
    assert not stale, f"toolkit/configuration/titles.py labels keys the schema no longer has: {', '.join(stale)}"


def test_form_and_docs_carry_the_same_labels():
    fields = {f["key"]: f for f in ui_export.ui_schema()["sections"]["config.process[].network"]["fields"]}
    assert fields["linear"]["title"] == "Rank" and fields["linear_alpha"]["title"] == "Alpha"
    train = {f["key"]: f for f in ui_export.ui_schema()["sections"]["config.process[].train"]["fields"]}
    assert train["independent_audio_timestep"]["title"] == "Independent audio timestep"
    docs = config_docs.render_config_docs()
    assert "| `linear` (alias `rank`) | Rank |" in docs or "| `linear` | Rank |" in docs
    assert "| `caption_dropout_rate` | Caption dropout |" in docs

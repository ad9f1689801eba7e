"""The atomic writer on Windows: a rename over a file someone holds open is retried (a reader
of status.json, an antivirus scanning a new LoRA), not reported as a read-only place."""

from __future__ import annotations

import os

import pytest

from toolkit import atomic
from toolkit.errors import WriteRefused


def _held_open_for(monkeypatch, refusals: int) -> list:
    """os.replace answers access denied `refusals` times, as Windows does while another
    process holds the destination open without delete sharing."""
    calls = []
    real = os.replace

    def replace(src, dst):
        calls.append(dst)
        if len(calls) <= refusals:
            raise PermissionError(13, "Access is denied", str(dst))
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    monkeypatch.setattr(atomic, "_ON_WINDOWS", True)
    monkeypatch.setattr(atomic, "_WINDOWS_RETRY_S", (0.0,) * len(atomic._WINDOWS_RETRY_S))
    return calls


def test_a_briefly_held_destination_is_replaced_after_a_retry(tmp_path, monkeypatch):
    target = tmp_path / "status.json"
    target.write_text("old")
    calls = _held_open_for(monkeypatch, refusals=2)
    atomic.atomic_write_text(target, "new")
    assert target.read_text() == "new" and len(calls) == 3
    assert [p for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_a_destination_that_stays_held_is_refused_naming_it(tmp_path, monkeypatch):
    target = tmp_path / "status.json"
    target.write_text("old")
    calls = _held_open_for(monkeypatch, refusals=100)
    with pytest.raises(WriteRefused, match="cannot write .*status.json"):
        atomic.atomic_write_text(target, "new")
    assert len(calls) == len(atomic._WINDOWS_RETRY_S) + 1 and target.read_text() == "old"
    assert [p for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_posix_does_not_retry(tmp_path, monkeypatch):
    calls = _held_open_for(monkeypatch, refusals=1)
    monkeypatch.setattr(atomic, "_ON_WINDOWS", False)
    with pytest.raises(WriteRefused):
        atomic.atomic_write_text(tmp_path / "x.txt", "new")
    assert len(calls) == 1

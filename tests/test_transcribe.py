"""Choosing the speech engine (toolkit/voice/transcribe.py): a Whisper model in the local
Hugging Face cache is found without loading it; a named model that cannot be loaded is bad
input naming it; word error rates are counted by words."""

from __future__ import annotations

import json

import pytest

from toolkit.errors import UserInputError
from toolkit.voice.transcribe import cached_whisper, choose_engine, word_error_rate


def _fake_repo(cache, repo_id: str, size: int) -> None:
    folder = cache / f"models--{repo_id.replace('/', '--')}"
    snap = folder / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("0123abcd")
    blob = folder / "blobs" / "f00d"
    blob.parent.mkdir()
    blob.write_bytes(b"x" * size)
    (snap / "config.json").symlink_to(blob)
    (snap / "weights.bin").write_text(json.dumps({}))


def test_the_smallest_cached_whisper_is_found(tmp_path):
    assert cached_whisper(str(tmp_path)) is None
    _fake_repo(tmp_path, "openai/whisper-large-v3", 5000)
    _fake_repo(tmp_path, "openai/whisper-tiny", 100)
    _fake_repo(tmp_path, "Lightricks/LTX-2", 10)
    assert cached_whisper(str(tmp_path)) == "openai/whisper-tiny"


def test_a_named_model_that_does_not_load_is_bad_input(tmp_path):
    with pytest.raises(UserInputError, match="--asr-model .*cannot load a Whisper model"):
        choose_engine(str(tmp_path / "no-such-model"))
    assert choose_engine("none") is None


def test_word_error_rate_counts_words():
    assert word_error_rate("one two three four", "one two three four") == 0
    assert word_error_rate("one two three four", "one too three") == 0.5  # a substitution and a deletion
    assert word_error_rate("Good morning, everyone!", "good morning everyone") == 0

"""Choosing the speech engine (toolkit/voice/transcribe.py): a Whisper model in the local
Hugging Face cache is found without loading it, and is the engine when no --asr-model is
given (pocketsphinx when the cache holds none); a named model that is not a Whisper, or whose
weights are incomplete, is bad input naming it; word error rates are counted by words.

The Whisper here is tests/tiny_whisper.py's, made offline from transformers' classes; what
Whisper transcribes inside `python -m toolkit.prepare` is tests/test_prepare.py's."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from tiny_whisper import GreedyReader

from toolkit.errors import UserInputError
from toolkit.prepare.__main__ import main as prepare_main
from toolkit.voice.transcribe import SphinxEngine, WhisperEngine, cached_whisper, choose_engine, word_error_rate


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
    found = cached_whisper(str(tmp_path))
    assert found.repo_id == "openai/whisper-tiny"
    assert found.folder == tmp_path / "models--openai--whisper-tiny" / "snapshots" / "0123abcd"


def _hub_cache_copy(model: Path, cache: Path, repo_id: str) -> Path:
    """``model`` laid out as the hub's cache holds a download: blobs named by their hash,
    a snapshot folder of links to them, refs/main naming the snapshot."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "3f2a" * 10
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in sorted(model.iterdir()):
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, repo / "blobs" / digest)
        (snapshot / file.name).symlink_to(Path("..", "..", "blobs", digest))
    return snapshot


@pytest.mark.skipif(importlib.util.find_spec("pocketsphinx") is None, reason="needs pocketsphinx")
def test_without_asr_model_a_cached_whisper_is_used_else_pocketsphinx(tiny_whisper_dir, tmp_path, monkeypatch):
    from huggingface_hub import constants

    empty = tmp_path / "empty-cache"
    empty.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(empty))
    assert isinstance(choose_engine(None), SphinxEngine)
    cache = tmp_path / "hub"
    snapshot = _hub_cache_copy(tiny_whisper_dir, cache, "test-org/whisper-tiny-test")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    engine = choose_engine(None)
    assert isinstance(engine, WhisperEngine) and engine.name == "whisper test-org/whisper-tiny-test"
    assert Path(engine.model.name_or_path) == snapshot
    assert isinstance(choose_engine("pocketsphinx"), SphinxEngine)  # chosen by name over the cached Whisper
    named = choose_engine("test-org/whisper-tiny-test")  # a hub id named by --asr-model: from the cache too
    assert named.name == "whisper test-org/whisper-tiny-test"
    t = np.arange(16000 * 2) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(5 * t))).astype(np.float32)
    said = engine.transcribe(wave)
    text, confidence = GreedyReader(tiny_whisper_dir)(wave)
    assert said.text == text and text
    assert said.confidence == pytest.approx(confidence, abs=2e-4)
    assert named.transcribe(wave) == said


@pytest.mark.parametrize("case", ["missing", "empty folder", "not a Whisper"])
def test_an_asr_model_that_is_not_a_whisper_stops_prepare_at_once(case, tiny_model_dir, tmp_path, capsys):
    """Named before any footage is analysed (SOURCE here holds none)."""
    folder = {"missing": tmp_path / "no-such-model", "empty folder": tmp_path / "empty",
              "not a Whisper": tiny_model_dir / "text_encoder"}[case]
    if case == "empty folder":
        folder.mkdir()
    code = prepare_main([str(tmp_path), str(tmp_path / "out"), "--trigger", "ANNA", "--asr-model", str(folder),
                         "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and f"--asr-model {folder}:" in err, err
    if case == "not a Whisper":
        assert "not a Whisper's" in err
    assert not (tmp_path / "out").exists()
    assert choose_engine("none") is None


def test_a_whisper_with_missing_weights_is_bad_input(tiny_whisper_dir, tmp_path):
    """transformers would fill missing tensors with random numbers and transcribe noise."""
    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(tiny_whisper_dir, tmp_path / "partial")
    weights = load_file(folder / "model.safetensors")
    dropped = sorted(weights)[0]
    del weights[dropped]
    os.remove(folder / "model.safetensors")
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(UserInputError, match=rf"--asr-model {folder}: 1 of the model's tensors .*\(e\.g\. {dropped}\)"):
        choose_engine(str(folder))


def test_word_error_rate_counts_words():
    assert word_error_rate("one two three four", "one two three four") == 0
    assert word_error_rate("one two three four", "one too three") == 0.5  # a substitution and a deletion
    assert word_error_rate("Good morning, everyone!", "good morning everyone") == 0

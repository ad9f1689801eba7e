"""Trigger words (`[trigger]` in captions, `trigger_word` prepended) and caption dropout."""

from __future__ import annotations

import pytest
from conftest import copy_media, prepared, tiny_config

from toolkit.dataloader_mixins import apply_trigger


@pytest.mark.parametrize("caption, trigger, expected", [
    ("[trigger] waves at the camera", "sks", "sks waves at the camera"),
    ("a photo of [trigger], and [trigger] again", "sks", "a photo of sks, and sks again"),
    ("a man waves", "sks", "sks a man waves"),
    ("sks waves", "sks", "sks waves"),  # already there: not added twice
    ("", "sks", "sks"),
    ("[trigger] waves", None, "waves"),  # no trigger word: the placeholder goes
    ("[trigger] waves", "", "waves"),
    ("a man waves", None, "a man waves"),
    ("ein Mann winkt, 名前", "ohwx person", "ohwx person ein Mann winkt, 名前"),
])  # fmt: skip
def test_apply_trigger(caption, trigger, expected):
    assert apply_trigger(caption, trigger) == expected


@pytest.fixture(scope="module")
def data(synthetic_dir, tmp_path_factory):
    folder = copy_media(synthetic_dir, tmp_path_factory.mktemp("captions"), ["clip_000.mp4", "image_000.png"])
    (folder / "image_000.txt").write_text("[trigger] as a still image", encoding="utf-8")
    return folder


def _spy_captions(proc, monkeypatch) -> list:
    """The caption each training item's prompt is taken for."""
    seen = []
    original = proc.batches.encode_caption

    def spy(caption):
        seen.append(caption)
        return original(caption)

    monkeypatch.setattr(proc.batches, "encode_caption", spy)
    return seen


def test_trigger_word_reaches_the_items(tiny_model_dir, data, tmp_path):
    proc = prepared(tiny_config(tiny_model_dir, data, tmp_path, trigger_word="sks"))
    try:
        captions = {item.path.rsplit("/", 1)[-1]: item.caption for item in proc.items}
    finally:
        proc.out.close()
    clip_caption = (data / "clip_000.txt").read_text(encoding="utf-8").strip()
    assert captions == {"clip_000.mp4": f"sks {clip_caption}", "image_000.png": "sks as a still image"}


def test_caption_dropout_one_always_trains_the_empty_prompt(tiny_model_dir, data, tmp_path, monkeypatch):
    proc = prepared(tiny_config(tiny_model_dir, data, tmp_path, trigger_word="sks",
                                 **{"datasets.0.caption_dropout_rate": 1.0}))
    try:
        seen = _spy_captions(proc, monkeypatch)
        for _ in range(6):
            proc.train_step()
    finally:
        proc.out.close()
    assert seen and set(seen) == {""}
    assert "" in proc.batches.prompt_cache  # encoded before training, with the captions


def test_caption_dropout_zero_never_drops(tiny_model_dir, data, tmp_path, monkeypatch):
    proc = prepared(tiny_config(tiny_model_dir, data, tmp_path, trigger_word="sks"))
    try:
        for _ in range(6):
            proc.batches.prompt_for(proc.sampler.next_batch())
    finally:
        proc.out.close()
    assert "" not in proc.batches.prompt_cache and proc.batches.prompt_cache
    assert all(key.startswith("sks ") for key in proc.batches.prompt_cache)

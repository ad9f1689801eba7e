"""discover_dataset: pairing, hidden files, subfolders, captions, errors."""

from __future__ import annotations

import pytest

from toolkit.dataset.discovery import discover_dataset
from toolkit.errors import UserInputError


def _touch(path, text=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is None:
        path.write_bytes(b"\x00")  # content is never read by discovery
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "ds"
    _touch(root / "b_clip.mp4")
    _touch(root / "b_clip.txt", "  a woman waves, she says hi \n")
    _touch(root / "a_still.PNG")
    _touch(root / "a_still.txt", "a portrait")
    _touch(root / "sub" / "deeper" / "c.webm")
    _touch(root / "sub" / "deeper" / "c.txt", "deep clip")
    _touch(root / "sub" / "no_caption.mov")
    _touch(root / ".hidden_clip.mp4")
    _touch(root / ".cache" / "x.mp4")
    _touch(root / "notes.md", "not media")
    return root


def test_pairs_captions_walks_subfolders_and_sorts(folder):
    scan = discover_dataset(folder)
    rel = [f.path.relative_to(folder.resolve()).as_posix() for f in scan.files]
    assert rel == ["a_still.PNG", "b_clip.mp4", "sub/deeper/c.webm", "sub/no_caption.mov"]
    by_name = {f.path.name: f for f in scan.files}
    assert by_name["b_clip.mp4"].caption == "a woman waves, she says hi"
    assert by_name["b_clip.mp4"].caption_source == "file" and by_name["b_clip.mp4"].kind == "video"
    assert by_name["a_still.PNG"].kind == "image" and by_name["a_still.PNG"].caption == "a portrait"
    assert by_name["c.webm"].caption == "deep clip"
    assert all(f.path.is_absolute() for f in scan.files)


def test_hidden_files_and_folders_are_skipped(folder):
    names = {f.path.name for f in discover_dataset(folder).files}
    assert ".hidden_clip.mp4" not in names and "x.mp4" not in names


def test_missing_caption_is_reported(folder):
    scan = discover_dataset(folder)
    missing = [f for f in scan.files if f.caption_source == "missing"]
    assert [f.path.name for f in missing] == ["no_caption.mov"] and missing[0].caption == ""
    assert [p.name for p in scan.missing_captions] == ["no_caption.mov"]
    assert "1 without caption" in scan.summary()


def test_default_caption_fills_missing_ones(folder):
    scan = discover_dataset(folder, default_caption="a person")
    item = next(f for f in scan.files if f.path.name == "no_caption.mov")
    assert (item.caption, item.caption_source) == ("a person", "default")
    assert scan.missing_captions == []


def test_other_caption_extension(folder):
    _touch(folder / "b_clip.caption", "from the other file")
    scan = discover_dataset(folder, caption_ext=".caption")
    item = next(f for f in scan.files if f.path.name == "b_clip.mp4")
    assert item.caption == "from the other file"
    assert next(f for f in scan.files if f.path.name == "a_still.PNG").caption_source == "missing"


def test_non_media_files_are_ignored_and_listed(folder):
    scan = discover_dataset(folder)
    assert [p.name for p in scan.ignored] == ["notes.md"]
    assert len(scan.videos) == 3 and len(scan.images) == 1


def test_every_extension_is_recognised(tmp_path):
    names = ["a.mp4", "b.mov", "c.webm", "d.mkv", "e.avi", "f.m4v", "g.png", "h.jpg", "i.jpeg", "j.webp", "k.bmp"]
    for name in names:
        _touch(tmp_path / name)
    scan = discover_dataset(tmp_path)
    assert [f.path.name for f in scan.files] == names
    assert [f.kind for f in scan.files] == ["video"] * 6 + ["image"] * 5


def test_non_ascii_names_and_captions(tmp_path):
    _touch(tmp_path / "été_東京.mp4")
    _touch(tmp_path / "été_東京.txt", "\ufeffune femme dit « bonjour », 東京")
    (item,) = discover_dataset(tmp_path).files
    assert item.path.name == "été_東京.mp4" and item.caption == "une femme dit « bonjour », 東京"


def test_empty_caption_file_is_flagged(tmp_path):
    _touch(tmp_path / "a.mp4")
    _touch(tmp_path / "a.txt", "   \n")
    scan = discover_dataset(tmp_path)
    assert scan.files[0].caption_source == "file" and scan.files[0].caption == ""
    assert [p.name for p in scan.empty_captions] == ["a.mp4"]


def test_caption_that_is_not_utf8_names_the_caption_file(tmp_path):
    _touch(tmp_path / "a.mp4")
    (tmp_path / "a.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(UserInputError, match="UTF-8") as err:
        discover_dataset(tmp_path)
    assert str(tmp_path / "a.txt") in str(err.value)


def test_missing_folder_error_names_the_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserInputError, match="does not exist") as err:
        discover_dataset(missing)
    assert str(missing) in str(err.value) and "folder_path" in str(err.value)


def test_folder_without_media_error_names_the_folder_and_what_to_do(tmp_path):
    _touch(tmp_path / "readme.txt", "captions but no media")
    _touch(tmp_path / ".hidden.mp4")
    with pytest.raises(UserInputError, match="holds no media") as err:
        discover_dataset(tmp_path)
    message = str(err.value)
    assert str(tmp_path.resolve()) in message and "mp4" in message and "clip.txt" in message


def test_a_file_is_not_a_folder(tmp_path):
    path = _touch(tmp_path / "clip.mp4")
    with pytest.raises(UserInputError, match="not a folder"):
        discover_dataset(path)

"""Issue 24 item 2: a clip trains in the shape a player shows it. Anamorphic video (non-square
pixels, a sample aspect ratio) and phone video (a rotation tag) are probed, decoded, bucketed,
described by `--check` and thumbnailed for the web UI at their displayed size, and the decoded
picture matches what ffmpeg itself shows (media made by ffmpeg)."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config
from PIL import Image

from toolkit.dataset.discovery import DatasetFile
from toolkit.dataset.frames import choose_bucket
from toolkit.dataset.items import load_training_item
from toolkit.media.thumbs import describe
from toolkit.media.video_decode import decode_frames, probe_media

# name -> (stored width, height; displayed width, height)
CASES = {
    "anamorphic": ((96, 48), (192, 48)),  # SAR 2:1
    "rotated": ((96, 48), (48, 96)),  # rotate=90
    "anamorphic_rotated": ((96, 48), (48, 192)),  # both: square pixels first, then the turn
}


def ffmpeg_shows(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The first frame as the ffmpeg program shows it, RGB: rotated by its autorotate, then scaled
    to `size` (the displayed size we expect; a wrong one would distort the picture)."""
    width, height = size
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"scale={width}:{height},setsar=1",
                          "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


@pytest.mark.parametrize("name", list(CASES))
def test_probe_decode_bucket_and_thumbnail_use_the_displayed_shape(name, odd_media, tmp_path):
    path = odd_media.get(name)
    stored, shown = CASES[name]
    info = probe_media(path)
    assert (info.width, info.height) == shown
    frame = decode_frames(path, [0.0])[0].numpy()
    assert frame.shape == (shown[1], shown[0], 3)
    # The picture is ffmpeg's own display of the file (two scalers: a tolerance; measured 0-9).
    assert np.abs(frame.astype(int) - ffmpeg_shows(path, shown).astype(int)).mean() < 20  # upside down: ~190
    # Bucketed at its displayed aspect, not its storage shape.
    item = load_training_item(DatasetFile(path, "video", "c", "file"), num_frames=9, fps=24, resolution=64,
                              do_audio=False, audio_normalize=False, spread=False, flip_x=False, flip_y=False,
                              rng=random.Random(0), start_s=0.0)
    assert tuple(item.frames.shape[2:]) == tuple(reversed(choose_bucket(*shown, 64)))
    assert choose_bucket(*shown, 64) != choose_bucket(*stored, 64)  # what went wrong before
    # The web UI's Datasets page reports and shows the same shape.
    record = describe(path, tmp_path)
    assert (record["width"], record["height"]) == shown
    with Image.open(tmp_path / record["thumb"]) as thumb:
        assert thumb.width / thumb.height == pytest.approx(shown[0] / shown[1], rel=0.05)
        small = np.asarray(Image.fromarray(frame).resize(thumb.size), dtype=int)
        assert np.abs(np.asarray(thumb.convert("RGB"), dtype=int) - small).mean() < 12  # same way up


def test_check_reports_the_displayed_sizes(odd_media, tmp_path, capsys, tiny_model_dir):
    import yaml

    import run

    folder = tmp_path / "data"
    folder.mkdir()
    for name in CASES:
        shutil.copy(odd_media.get(name), folder / f"{name}.mp4")
        (folder / f"{name}.txt").write_text("a test pattern")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_model_dir, folder, tmp_path / "out",
                                                 **{"datasets.0.do_audio": False})))
    assert run.main([str(config), "--check"]) == 0
    sizes = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("sizes:"))
    assert sorted(sizes.split(":", 1)[1].strip().split(", ")) == ["192x48 (1)", "48x192 (1)", "48x96 (1)"]


def test_an_unset_or_implausible_aspect_ratio_keeps_the_stored_size():
    from toolkit.media.display import display_size

    class Ratio:
        def __init__(self, n, d):
            self.numerator, self.denominator = n, d

        def __float__(self):
            return self.numerator / self.denominator

    class Stream:
        codec_context = None

        def __init__(self, ratio):
            self.sample_aspect_ratio = ratio

    assert display_size(Stream(Ratio(2, 1)), 96, 48) == (192, 48)
    assert display_size(Stream(Ratio(0, 1)), 96, 48) == (96, 48)  # unset
    assert display_size(Stream(Ratio(100, 1)), 96, 48) == (96, 48)  # broken metadata


def test_latents_cached_squeezed_are_not_reused(odd_media, monkeypatch):
    """An anamorphic clip's cache key names its pixel shape: latents cached before its pixels
    were made square (under the key it had then) are encoded again; square-pixel keys stay."""
    import toolkit.dataloader_mixins as mixins

    spec = mixins.DatasetSpec(folder=str(odd_media.root), resolution=64, num_frames=9)

    def key(name: str) -> str:
        return mixins._cache_key("tiny", spec, odd_media.get(name), (False, False), 7)

    now = {name: key(name) for name in ("anamorphic", "landscape")}
    monkeypatch.setattr(mixins, "pixel_aspect", lambda path: 1.0)  # the key as it was made before
    assert key("anamorphic") != now["anamorphic"] and key("landscape") == now["landscape"]

"""Latent caches on the tiny model: contents, names, validation (SOP change AL), atomic
writes, cache hits, and the caching summary with its problems file (SOP change AN)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from dataset_helpers import encode, load_tiny, noise_clip
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from toolkit.dataloader_mixins import CACHE_DIR_NAME, DatasetSpec, _cache_key, _load_cached
from toolkit.dataset.audio_status import AudioStatus
from toolkit.dataset.cache_integrity import CHECKSUM_KEY, tensors_checksum
from toolkit.errors import MediaError
from toolkit.media import audio_decode


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_tiny(tiny_model_dir)


@pytest.fixture
def one_clip(tmp_path):
    """A folder with one one-window clip (10 frames) with sound: one item, one cache file."""
    folder = tmp_path / "data"
    folder.mkdir()
    noise_clip(folder / "clip.mp4", frames=10)
    return folder


def cache_files(folder: Path) -> list[Path]:
    return sorted((folder / CACHE_DIR_NAME).glob("*.safetensors"))


def leftovers(folder: Path) -> list[Path]:
    return [p for p in (folder / CACHE_DIR_NAME).iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


def test_cache_file_holds_video_and_audio_latents(model, one_clip):
    items, report, _ = encode(model, one_clip)
    [path] = cache_files(one_clip)
    tensors = load_file(str(path))
    assert set(tensors) == {"video_latent", "audio_latent"}
    assert torch.equal(tensors["video_latent"], items[0].video_latent)
    assert torch.equal(tensors["audio_latent"], items[0].audio_latent)
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata()["audio_status"] == "ok"  # the plain name, as every version wrote it
    assert report.audio_encoded == 1 and report.cache_hits == 0
    again, report, _ = encode(model, one_clip)  # read back: the name becomes the enum member
    assert report.cache_hits == 1 and again[0].audio_status is AudioStatus.OK
    assert json.dumps({"audio_status": again[0].audio_status}) == '{"audio_status": "ok"}'
    # without audio the file holds the video latent only, under another name
    encode(model, one_clip, do_audio=False)
    [other] = [p for p in cache_files(one_clip) if p != path]
    assert set(load_file(str(other))) == {"video_latent"}


def test_a_cached_audio_status_no_version_wrote_is_refused(tmp_path):
    path = tmp_path / "item.safetensors"
    tensors = {"video_latent": torch.zeros(2, 1, 2, 2), "audio_latent": torch.zeros(3, 2)}
    save_file(tensors, str(path), metadata={"audio_status": "mystery", CHECKSUM_KEY: tensors_checksum(tensors)})
    assert _load_cached(path, want_audio=True) == (None, "unknown audio_status 'mystery' (written by another version)")


def test_cache_name_changes_with_everything_that_shapes_it(one_clip):
    clip = one_clip / "clip.mp4"
    base = DatasetSpec(folder=str(one_clip), resolution=64, num_frames=9, fps=24.0, do_audio=True)

    def key(**changes):
        spec = DatasetSpec(**{**base.__dict__, **changes})
        return _cache_key("tiny", spec, clip, (False, False), 7)

    assert key() == key()
    variants = {
        "resolution": key(resolution=96), "frames": key(num_frames=17), "fps": key(fps=12.0),
        "audio": key(do_audio=False), "normalize": key(audio_normalize=True), "spread": key(spread=True),
        "model": _cache_key("other-model", base, clip, (False, False), 7),
        "flip": _cache_key("tiny", base, clip, (True, False), 7),
        "seed": _cache_key("tiny", base, clip, (False, False), 8),
    }
    assert len(set(variants.values()) | {key()}) == len(variants) + 1, variants
    # settings that do not shape the latents keep the name
    assert key(num_repeats=3, caption_dropout_rate=0.5, trigger_word="sks", loss_multiplier=2.0) == key()


def test_stale_cache_without_audio_is_reencoded_with_a_note(model, one_clip):
    """SOP change AL: a cache file written without audio_latent must not stand in for audio."""
    encode(model, one_clip)
    [path] = cache_files(one_clip)
    video = load_file(str(path))["video_latent"]
    meta = {"audio_status": "not_requested", CHECKSUM_KEY: tensors_checksum({"video_latent": video})}
    save_file({"video_latent": video}, str(path), metadata=meta)  # written by a run without audio
    items, report, log = encode(model, one_clip)
    assert items[0].audio_latent is not None and items[0].audio_status == "ok"
    assert report.cache_hits == 0 and [p for p, _ in report.cache_rewritten] == [str(path)]
    assert "no audio_latent" in report.cache_rewritten[0][1]
    assert any("re-encoding stale cache" in m and str(path) in m for m in log.messages("info"))
    assert "audio_latent" in load_file(str(path))  # rewritten with audio


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_cache_file_is_reencoded(model, one_clip, damage):
    first, _, _ = encode(model, one_clip)
    [path] = cache_files(one_clip)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x13\x37" * 500, "empty": b""}[damage])
    items, report, log = encode(model, one_clip)
    assert report.cache_hits == 0 and len(report.cache_rewritten) == 1, log.records
    assert torch.equal(items[0].video_latent, first[0].video_latent)
    assert torch.equal(load_file(str(path))["audio_latent"], first[0].audio_latent)


def test_second_run_is_served_from_cache_with_identical_latents(model, tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    noise_clip(folder / "a.mp4", frames=20, seed=1)  # two windows
    noise_clip(folder / "b.mp4", frames=10, seed=2)
    noise_clip(folder / "mute.mp4", frames=10, audio=False)
    first, report1, _ = encode(model, folder)
    assert len(first) == 4 and report1.cache_hits == 0 and len(cache_files(folder)) == 4

    def no_encoding(*args, **kwargs):
        raise AssertionError("a cached item was encoded again")

    monkeypatch.setattr(model, "encode_video", no_encoding)
    monkeypatch.setattr(model, "encode_audio", no_encoding)
    # the clips' audio scans were kept in the cache folder too: no whole-track decode again
    from toolkit.dataset import audio_coverage

    audio_coverage._scan.cache_clear()
    monkeypatch.setattr(audio_coverage, "decode_audio", no_encoding)
    second, report2, log = encode(model, folder)
    assert report2.cache_hits == 4 and not report2.cache_rewritten
    assert (report2.audio_encoded, report2.no_audio_stream) == (3, [str(folder / "mute.mp4")])
    # the summary says the audio latents came from the cache, not that they were encoded again
    assert (report1.audio_from_cache, report2.audio_from_cache) == (0, 3)
    assert "3 audio latents (0 encoded now, 3 from the cache)" in report2.summary(None)
    assert "4 of 4 items read from the cache" in report2.summary(None)
    assert "3 audio latents (3 encoded now, 0 from the cache)" in report1.summary(None)
    for a, b in zip(first, second, strict=True):
        assert (a.path, a.audio_status, a.window_start_s, a.num_audio_samples) == \
               (b.path, b.audio_status, b.window_start_s, b.num_audio_samples)
        assert torch.equal(a.video_latent, b.video_latent)
        assert (a.audio_latent is None and b.audio_latent is None) or torch.equal(a.audio_latent, b.audio_latent)
    assert sum("mute.mp4" in m for m in log.messages("warning")) == 1


def _half_then(exc):
    """The OS call after the data is written (fsync) fails: the temp file holds a whole
    unfinished file, as when a kill or a full disk strikes mid-write."""
    def fsync(fd):
        raise exc

    return fsync


def test_interrupted_write_leaves_no_half_file(model, one_clip, monkeypatch):
    import toolkit.atomic

    monkeypatch.setattr(toolkit.atomic.os, "fsync", _half_then(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        encode(model, one_clip)
    assert cache_files(one_clip) == [] and leftovers(one_clip) == []


def test_failed_write_warns_and_keeps_training(model, one_clip, monkeypatch):
    import toolkit.atomic

    monkeypatch.setattr(toolkit.atomic.os, "fsync", _half_then(OSError(28, "No space left on device")))
    items, _, log = encode(model, one_clip)
    assert len(items) == 1 and items[0].audio_latent is not None
    assert cache_files(one_clip) == [] and leftovers(one_clip) == []
    [warning] = log.messages("warning")
    assert "No space left" in warning and "latent cache" in warning


def test_caching_summary_and_problems_file(tiny_model_dir, tmp_path, monkeypatch):
    from jobs.process.BaseSDTrainProcess import TrainProcess
    from toolkit.configuration.loader import validate_config_data

    folder = tmp_path / "data"
    folder.mkdir()
    noise_clip(folder / "good.mp4", frames=20, seed=1)  # two windows
    noise_clip(folder / "bad_audio.mp4", frames=10, seed=2)
    for name, decoder in list(audio_decode._DECODERS.items()):
        def failing(path, *args, _decoder=decoder, _name=name):
            if Path(path).name == "bad_audio.mp4":
                raise MediaError(path, f"{_name} says: invalid data found when processing input")
            return _decoder(path, *args)

        monkeypatch.setitem(audio_decode._DECODERS, name, failing)
    loaded = validate_config_data(tiny_config(tiny_model_dir, folder, tmp_path / "out", name="sum", steps=1,
                                              **{"datasets.0.window_variants": 1}))
    proc = TrainProcess(loaded.job.config.process[0], "sum", loaded.raw)
    try:
        proc.prepare()
    finally:
        proc.out.close()
    problems = proc.out.folder / "dataset_problems.txt"
    log = proc.out.log_path.read_text(encoding="utf-8")
    summary = re.search(r"Audio latent caching: (\d+) audio latents \(\d+ encoded now, \d+ from the cache\), "
                        r"(\d+) failed \(list in (.+?)\)", log)
    assert summary, log
    assert summary.groups() == ("2", "1", str(problems))
    lines = problems.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1, lines
    kind, path, why = lines[0].split("\t")
    assert (kind, path) == ("audio failed", str(folder / "bad_audio.mp4"))
    assert "could not decode the audio with any decoder" in why and "pyav says: invalid data" in why
    assert sum("bad_audio.mp4" in line and "warning" in line.lower() for line in log.splitlines()) == 1
    assert len(proc.items) == 3 and sum(item.audio_latent is None for item in proc.items) == 1


def test_a_replaced_file_with_the_same_size_and_mtime_is_encoded_again(model, tmp_path):
    """The key covers the content: copies that keep mtime (cp -p, rsync) must not reuse old latents."""
    import os

    from test_media_factory import grey_frames, write_media

    folder = tmp_path / "data"
    folder.mkdir()
    clip = write_media(folder / "clip.mp4", frames=grey_frames(10, 64, 64, step=0) + 52)
    (folder / "clip.txt").write_text("a grey clip")
    first, _, _ = encode(model, folder, do_audio=False)
    stat = clip.stat()
    other = write_media(tmp_path / "other.mp4", frames=grey_frames(10, 64, 64, step=0) + 70)
    assert other.stat().st_size == stat.st_size, "the test needs two different files of one size"
    os.replace(other, clip)
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second, report, _ = encode(model, folder, do_audio=False)
    assert report.cache_hits == 0, "served the replaced file's latents from the cache"
    assert not torch.equal(first[0].video_latent, second[0].video_latent)
    fresh, _, _ = encode(model, folder, do_audio=False, cache_to_disk=False)
    assert torch.equal(second[0].video_latent, fresh[0].video_latent)


def test_damaged_tensors_fail_their_checksum_and_are_reencoded_with_a_note(model, one_clip):
    first, _, _ = encode(model, one_clip)
    [path] = cache_files(one_clip)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40  # one flipped bit in the tensor bytes: the file still loads as safetensors
    path.write_bytes(bytes(data))
    assert set(load_file(str(path))) == {"video_latent", "audio_latent"}
    items, report, log = encode(model, one_clip)
    assert report.cache_hits == 0 and [p for p, _ in report.cache_rewritten] == [str(path)]
    assert "checksum" in report.cache_rewritten[0][1]
    assert any("re-encoding stale cache" in m and "checksum" in m for m in log.messages("info"))
    assert torch.equal(items[0].audio_latent, first[0].audio_latent)
    assert torch.equal(items[0].video_latent, first[0].video_latent)
    again, report, _ = encode(model, one_clip)  # the rewritten file is trusted again
    assert report.cache_hits == 1


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    return f"{value}-changed" if value is not None else "changed"


def test_every_dataset_field_declares_whether_it_shapes_the_cache_and_keeps_to_it(one_clip):
    """The key comes from DatasetSpec's declared fields: a field that shapes the latents
    changes the key, one that does not keeps it, and no field is left undeclared."""
    from dataclasses import fields

    clip = one_clip / "clip.mp4"
    base = DatasetSpec(folder=str(one_clip), resolution=64, num_frames=9, fps=24.0, do_audio=True, spread=True)

    def key(spec):
        return _cache_key("tiny", spec, clip, (False, False), 7)

    shaping = []
    for f in fields(DatasetSpec):
        assert "cache_key" in f.metadata, f"DatasetSpec.{f.name} does not declare whether it shapes the cache"
        if f.metadata["cache_key"] is None:
            continue
        shaping.append(f.name)
        changed = DatasetSpec(**{**base.__dict__, f.name: _changed(getattr(base, f.name))})
        assert key(changed) != key(base), f.name
    assert {"resolution", "fps", "do_audio", "audio_normalize", "spread", "preserve_pitch"} <= set(shaping)
    for name in ("num_repeats", "loss_multiplier", "caption_dropout_rate", "trigger_word", "cache_to_disk"):
        assert key(DatasetSpec(**{**base.__dict__, name: _changed(getattr(base, name))})) == key(base), name

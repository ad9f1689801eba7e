"""Helpers for the dataset encoder tests: the tiny model, a log that records, clips with
noise audio (each window's sound differs), and an encoder run in one call."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from test_media_factory import grey_frames, write_media


class ListLog:
    """Stands in for RunOutput: keeps (level, message) pairs."""

    def __init__(self):
        self.records: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.records.append(("info", message))

    def warning(self, message: str) -> None:
        self.records.append(("warning", message))

    def messages(self, level: str) -> list[str]:
        return [m for lvl, m in self.records if lvl == level]


def load_tiny(model_dir: Path):
    import torch

    from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings

    return LTX2Model.load(str(model_dir), LTX2Settings(dtype=torch.float32, device=torch.device("cpu"),
                                                       gradient_checkpointing=False))


def noise_clip(path: Path, frames: int, fps: int = 24, seed: int = 0, size: int = 64, audio: bool = True,
               caption: str | None = "a caption") -> Path:
    """An h264 clip of `frames` grey frames with white-noise AAC audio (44.1 kHz stereo)."""
    rng = np.random.default_rng(seed)
    seconds = frames / fps
    wave = (0.3 * rng.standard_normal(int(round(seconds * 44100)))).astype(np.float32) if audio else None
    write_media(path, frames=grey_frames(frames, size, size, step=3), fps=fps, audio=wave)
    if caption is not None:
        path.with_suffix(".txt").write_text(caption, encoding="utf-8")
    return path


AUDIO_CODECS = {"wav": ["-c:a", "pcm_s16le"], "flac": ["-c:a", "flac"], "mp3": ["-c:a", "libmp3lame"],
                "m4a": ["-c:a", "aac"], "ogg": ["-c:a", "libvorbis"], "opus": ["-c:a", "libopus"]}


def audio_file(clip: Path, target: Path, caption: str | None = "a voice speaks") -> Path:
    """The sound of a clip (the synthetic ones: espeak-ng speech over a tone) as an audio-only
    dataset file of `target`'s format, by ffmpeg, with its caption."""
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-i", str(clip), "-vn",
                    *AUDIO_CODECS[target.suffix[1:]], str(target)], check=True, capture_output=True, timeout=120)
    if caption is not None:
        target.with_suffix(".txt").write_text(caption, encoding="utf-8")
    return target


def encode(model, folder: Path, seed: int = 0, **spec_fields):
    """Run DatasetEncoder over `folder`; returns (items, report, log)."""
    from toolkit.dataloader_mixins import CachingReport, DatasetEncoder, DatasetSpec

    # one set of window positions unless a test asks for more (window_variants)
    options = dict(resolution=64, num_frames=9, fps=24.0, do_audio=True, spread=False, cache_to_disk=True,
                   window_variants=1)
    options.update(spec_fields)
    log = ListLog()
    report = CachingReport()
    items = DatasetEncoder(model, model_id="tiny", seed=seed, log=log).encode(
        DatasetSpec(folder=str(folder), **options), report)
    return items, report, log

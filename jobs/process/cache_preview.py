"""Decode a config's cached latents back to mp4 files with sound (`python -m toolkit.preview_cache CFG`).

For every dataset of every process, each item cache file in ``<dataset>/_latent_cache/``
(written by the dataset encoder, toolkit/dataloader_mixins.py) is read, its tensors checked
against their stored checksum, and decoded with the model's video VAE, audio VAE and vocoder
(extensions_built_in/diffusion_models/ltx2/decode_latents.py) into
``<training_folder>/<name>/cache_preview/<dataset number>/<cache file>.mp4`` (or ``--out``):
the pictures and the voice the model trains on, after encoding. An item cached without audio
(an image, a clip without an audio stream) gives a silent mp4.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from extensions_built_in.diffusion_models.ltx2.decode_latents import decode_audio, decode_video, load_decoders
from extensions_built_in.diffusion_models.ltx2.loading import ModelSources
from extensions_built_in.diffusion_models.ltx2.versions import get_version
from toolkit.configuration.loader import load_config
from toolkit.dataloader_mixins import CACHE_DIR_NAME, _load_cached
from toolkit.errors import ToolkitError, UserInputError
from toolkit.media.mp4_writer import write_mp4


def cache_files(folder: Path) -> list[Path]:
    """The item cache files of one dataset (silence and voice caches live elsewhere or are not
    safetensors)."""
    return sorted((folder / CACHE_DIR_NAME).glob("*.safetensors"))


def preview_process(process, name: str, out: Path | None, limit: int | None, log=print) -> list[Path]:
    version = get_version(process.model.arch)
    sources = ModelSources(process.model.name_or_path, process.model.te_name_or_path,
                           process.model.extras_name_or_path, process.model.model_kwargs.file_paths())
    base = out or Path(process.training_folder) / name / "cache_preview"
    jobs = []
    for number, ds in enumerate(process.datasets, 1):
        found = cache_files(Path(ds.folder_path))
        if not found:
            log(f"dataset {number} ({ds.folder_path}): no cached latents in {Path(ds.folder_path) / CACHE_DIR_NAME}; "
                "a training run with cache_latents_to_disk: true writes them")
        jobs += [(number, ds, f) for f in found[:limit]]
    if not jobs:
        raise UserInputError("no cached latents to preview: run the training once (with cache_latents_to_disk: true) "
                             "to encode the datasets")
    decoders = load_decoders(version, sources, torch.float32)
    written = []
    for number, ds, path in tqdm(jobs, desc="decoding latents", unit="item", file=sys.stderr):
        cached, stale = _load_cached(path, want_audio=False)
        if cached is None:
            log(f"skipped {path}: {stale}")
            continue
        tensors = cached["tensors"]
        frames = decode_video(decoders["vae"], tensors["video_latent"])
        audio, rate = (None, 16000)
        if "audio_latent" in tensors:
            audio, rate = decode_audio(decoders["audio_vae"], decoders["vocoder"], tensors["audio_latent"])
        dest = base / str(number) / f"{path.stem}.mp4"
        dest.parent.mkdir(parents=True, exist_ok=True)
        written.append(write_mp4(dest, frames, float(ds.fps), audio, rate))
    log(f"wrote {len(written)} previews to {base}")
    return written


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(prog="python -m toolkit.preview_cache",
                                     description="Decode a config's cached latents to mp4 files with sound.")
    parser.add_argument("config", help="the training config whose datasets were cached")
    parser.add_argument("--out", type=Path, help="where the mp4 files go (default <training_folder>/<name>/cache_preview)")
    parser.add_argument("--limit", type=int, help="at most this many items per dataset")
    args = parser.parse_args(argv)
    try:
        loaded = load_config(args.config)
        for process in loaded.job.config.process:
            preview_process(process, loaded.name, args.out, args.limit)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0

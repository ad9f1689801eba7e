"""Datasets -> encoded items: decode media, run the VAEs once, cache the latents.

This is the home of the SOP's caching fixes (changes AL, AN): every item's audio outcome is
counted and reported (`Audio latent caching: N encoded, M failed (list in <file>)`), a cache
file is keyed by a hash of everything that shapes it, validated on load (audio present when
the dataset uses audio), and written atomically so an interrupted run leaves no half file.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from toolkit.data_transfer_object.data_loader import EncodedItem
from toolkit.errors import MediaError
from toolkit.network import atomic_save_safetensors

CACHE_VERSION = 1
CACHE_DIR_NAME = "_latent_cache"


@dataclass
class DatasetSpec:
    """The dataset settings the encoder needs (taken from the validated config)."""

    folder: str
    caption_ext: str = "txt"
    default_caption: str = ""
    resolution: int = 512
    num_frames: int = 1
    fps: float = 24.0
    do_audio: bool = False
    audio_normalize: bool = False
    spread: bool = False
    flip_x: bool = False
    flip_y: bool = False
    num_repeats: int = 1
    loss_multiplier: float = 1.0
    cache_to_disk: bool = False
    trigger_word: str | None = None
    caption_dropout_rate: float = 0.0


@dataclass
class CachingReport:
    items: int = 0
    audio_encoded: int = 0
    audio_failed: list = field(default_factory=list)  # (path, problem)
    no_audio_stream: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (path, problem)
    cache_hits: int = 0
    cache_rewritten: list = field(default_factory=list)  # (path, reason)

    def summary(self, list_file: Path | None) -> str:
        where = f" (list in {list_file})" if list_file and (self.audio_failed or self.skipped) else ""
        return (
            f"Audio latent caching: {self.audio_encoded} encoded, {len(self.audio_failed)} failed{where}; "
            f"{len(self.no_audio_stream)} clips without an audio stream, {len(self.skipped)} files skipped, "
            f"{self.cache_hits} cache hits"
        )

    def write_problems(self, path: Path) -> None:
        lines = [f"audio failed\t{p}\t{why}" for p, why in self.audio_failed]
        lines += [f"no audio stream\t{p}\t-" for p in self.no_audio_stream]
        lines += [f"skipped\t{p}\t{why}" for p, why in self.skipped]
        path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")


def apply_trigger(caption: str, trigger: str | None) -> str:
    """`[trigger]` in a caption becomes the trigger word; otherwise it is prepended once."""
    if not trigger:
        return caption.replace("[trigger]", "").strip()
    if "[trigger]" in caption:
        return caption.replace("[trigger]", trigger)
    return f"{trigger} {caption}".strip() if trigger not in caption else caption


def _cache_key(model_id: str, spec: DatasetSpec, path: Path, flip: tuple[bool, bool], window_seed: int) -> str:
    stat = path.stat()
    shaping = {
        "v": CACHE_VERSION,
        "model": model_id,
        "file": str(path.resolve()),
        "size": stat.st_size,
        "mtime": stat.st_mtime_ns,
        "resolution": spec.resolution,
        "frames": spec.num_frames,
        "fps": spec.fps,
        "audio": spec.do_audio,
        "normalize": spec.audio_normalize,
        "spread": spec.spread,
        "flip": flip,
        "window_seed": window_seed,
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def _load_cached(path: Path, want_audio: bool) -> tuple[dict | None, str | None]:
    """Read and validate a cache file. Returns (contents, None) or (None, why it is stale)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as handle:
            meta = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        return None, f"unreadable ({exc})"
    if "video_latent" not in tensors:
        return None, "no video_latent"
    status = meta.get("audio_status", "")
    if want_audio and "audio_latent" not in tensors and status != "no_stream":
        # SOP change AL: a cache written without audio must not silently stand in.
        return None, f"no audio_latent (status '{status or 'missing'}')"
    return {"tensors": tensors, "meta": meta}, None


class DatasetEncoder:
    """Turns dataset folders into EncodedItems with the model's VAEs, with optional disk cache."""

    def __init__(self, model, model_id: str, seed: int, log):
        self.model = model
        self.model_id = model_id
        self.seed = seed
        self.log = log

    def encode(self, spec: DatasetSpec, report: CachingReport) -> list[EncodedItem]:
        from toolkit.dataset.discovery import discover_dataset

        scan = discover_dataset(spec.folder, caption_ext=spec.caption_ext, default_caption=spec.default_caption)
        files = list(scan.files) if hasattr(scan, "files") else list(scan)
        items: list[EncodedItem] = []
        flips = [(False, False)] + ([(True, False)] if spec.flip_x else []) + ([(False, True)] if spec.flip_y else [])
        work = [(f, flip) for f in files for flip in flips]
        for file, flip in tqdm(work, desc=f"caching {Path(spec.folder).name}", unit="item", leave=False):
            item = self._encode_one(spec, file, flip, report)
            if item is not None:
                items.extend([item] * spec.num_repeats)
        return items

    def _encode_one(self, spec: DatasetSpec, file, flip, report: CachingReport) -> EncodedItem | None:
        path = Path(file.path)
        if getattr(file, "caption_source", "file") == "missing":
            self.log.warning(f"{path}: no caption file and no default_caption; training it with an empty caption")
        caption = apply_trigger(file.caption or "", spec.trigger_word)
        window_seed = int(hashlib.sha256(f"{self.seed}:{path}".encode()).hexdigest()[:8], 16)
        cache_file = None
        if spec.cache_to_disk:
            key = _cache_key(self.model_id, spec, path, flip, window_seed)
            cache_file = path.parent / CACHE_DIR_NAME / f"{path.stem}_{key}.safetensors"
            if cache_file.exists():
                cached, stale = _load_cached(cache_file, spec.do_audio)
                if cached is not None:
                    report.cache_hits += 1
                    return self._item_from_cache(spec, path, caption, cached, report)
                report.cache_rewritten.append((str(cache_file), stale))
                self.log.info(f"note: re-encoding stale cache {cache_file}: {stale}")
        try:
            item = self._encode_fresh(spec, file, caption, flip, window_seed, report)
        except MediaError as exc:
            report.skipped.append((str(path), exc.problem))
            self.log.warning(f"skipping {path}: {exc.problem}")
            return None
        if cache_file is not None:
            tensors = {"video_latent": item.video_latent.contiguous()}
            if item.audio_latent is not None:
                tensors["audio_latent"] = item.audio_latent.contiguous()
            meta = {"audio_status": item.audio_status, "num_audio_samples": str(item.num_audio_samples),
                    "window_start_s": str(item.window_start_s)}
            from safetensors.torch import save_file

            atomic_save_safetensors(tensors, cache_file, meta, save_file)
        return item

    def _item_from_cache(self, spec, path, caption, cached, report) -> EncodedItem:
        tensors, meta = cached["tensors"], cached["meta"]
        audio = tensors.get("audio_latent")
        status = meta.get("audio_status", "not_requested")
        self._count_audio(report, path, status, None)
        report.items += 1
        return EncodedItem(
            path=str(path), caption=caption, video_latent=tensors["video_latent"], audio_latent=audio,
            audio_status=status, fps=spec.fps, num_audio_samples=int(meta.get("num_audio_samples", 0)),
            loss_multiplier=spec.loss_multiplier, window_start_s=float(meta.get("window_start_s", 0.0)),
            caption_dropout_rate=spec.caption_dropout_rate,
        )

    def _encode_fresh(self, spec, file, caption, flip, window_seed, report) -> EncodedItem:
        from toolkit.dataset.items import load_training_item

        loaded = load_training_item(
            file,
            num_frames=spec.num_frames,
            fps=spec.fps,
            resolution=spec.resolution,
            do_audio=spec.do_audio,
            audio_normalize=spec.audio_normalize,
            spread=spec.spread,
            flip_x=flip[0],
            flip_y=flip[1],
            rng=random.Random(window_seed),
        )
        frames = loaded.frames.permute(1, 0, 2, 3).unsqueeze(0)  # (F,3,H,W) -> (1,3,F,H,W)
        video_latent = self.model.encode_video(frames)[0].cpu()
        # The audio span is the frames' span (F / fps), also in spread mode, where duration_s
        # is the whole clip: silence for an audio-free item must match the frames it pairs with.
        num_samples = int(round(loaded.frames.shape[0] / spec.fps * 16000))
        audio_latent = None
        if loaded.audio is not None:
            audio_latent = self.model.encode_audio(loaded.audio.unsqueeze(0))[0].cpu()
            num_samples = loaded.audio.shape[-1]
        self._count_audio(report, Path(file.path), loaded.audio_status, loaded.audio_problem)
        report.items += 1
        return EncodedItem(
            path=str(file.path), caption=caption, video_latent=video_latent, audio_latent=audio_latent,
            audio_status=loaded.audio_status, fps=spec.fps, num_audio_samples=num_samples,
            loss_multiplier=spec.loss_multiplier, window_start_s=float(loaded.start_s or 0.0),
            caption_dropout_rate=spec.caption_dropout_rate,
        )

    def _count_audio(self, report: CachingReport, path: Path, status: str, problem: str | None) -> None:
        if status == "ok":
            report.audio_encoded += 1
        elif status == "failed":
            report.audio_failed.append((str(path), problem or "audio could not be decoded"))
            self.log.warning(f"{path}: audio could not be decoded, item trains without voice: {problem}")
        elif status == "no_stream":
            report.no_audio_stream.append(str(path))
            self.log.warning(f"{path}: has no audio stream; it trains video only (add sound or set do_audio: false)")

"""Datasets -> encoded items: decode media, run the VAEs once, cache the latents.

This is the home of the SOP's caching fixes (changes AL, AN): every item's audio outcome is
counted and reported (`Audio latent caching: N encoded (S speech, ...), M failed (list in <file>)`), a cache
file is keyed by a hash of everything that shapes it (the media file's content included, not
only its size and mtime), carries a checksum of its tensors that is verified on load (a
mismatch re-encodes with a note), is validated on load (audio present when the dataset uses
audio), and is written atomically so an interrupted run leaves no half file.

A clip longer than one natural-speed window (num_frames at fps) gives several items, one per
non-overlapping window at starts fixed by the seed (toolkit.dataset.window_plan, shared with
`--check`; with audio on, windows lie where both tracks are), each cached on its own;
`auto_frame_count` fits a short clip with the largest 8k+1 frame count it holds. Each bad
file is skipped or degraded with one warning. Every window with audio is named by the
trainer's one speech detector (toolkit/voice/speech.py, through the window plan): speech,
non-speech audio (music, tones, noise) or silence; the summary counts them and says what the
run does with them (all train audio, only speech is voice). A clip whose whole audio track is
silent trains video only.

Audio-only files (.wav .flac .mp3 .m4a .ogg .opus) give items that train the audio alone:
windows of ``num_frames / fps`` seconds placed as a clip's would be (toolkit.dataset.
window_plan.plan_audio_file), decoded by the same decoders with the same failure rules, named
speech, non-speech audio or silence by the same detector, and encoded by the audio VAE only.
Their video is the model's one-token placeholder (``LTX2Model.placeholder_video_latent``),
never cached and never scored (docs/voice_training.md, "Audio files"). They are encoded once
per dataset: flips and further resolutions do not apply to sound.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from toolkit.atomic import atomic_save_tensors, atomic_write_text
from toolkit.configuration.automatic import do_audio_for, spread_for
from toolkit.configuration.defaults import config_default
from toolkit.data_transfer_object.data_loader import EncodedItem
from toolkit.dataset.audio_coverage import audio_notes
from toolkit.dataset.audio_status import AudioStatus, read_status
from toolkit.dataset.cache_integrity import CHECKSUM_KEY, file_digest, tensors_checksum
from toolkit.dataset.discovery import discover_dataset
from toolkit.dataset.frames import MAX_WINDOWS_PER_CLIP
from toolkit.dataset.items import load_audio_window, load_training_item
from toolkit.dataset.silence import SilenceLatents
from toolkit.dataset.window_plan import ClipPlan, ClipWindow, plan_audio_file, plan_clip, window_seed
from toolkit.errors import MediaError, WriteFailed
from toolkit.media.video_decode import pixel_aspect, probe_media
from toolkit.run.progress import Progress
from toolkit.voice.speech import KIND_WORDS, KINDS, SPEECH, counts_line

CACHE_VERSION = 3
CACHE_DIR_NAME = "_latent_cache"


def _shapes(key: str, default, when=None):
    """A DatasetSpec field that shapes the cached latents: its value goes into the cache key
    under `key` (only when `when(spec)` holds, if given)."""
    return field(default=default, metadata={"cache_key": key, "cache_when": when})


def _via_window(default):
    """A field that shapes the latents through the window plan (frames, positions), which is
    in the cache key itself."""
    return field(default=default, metadata={"cache_key": None, "cache_role": "window"})


def _ds(key: str):
    """The default of datasets[].`key` (a config that leaves it out)."""
    return config_default(f"datasets.{key}")


def _not_shaping(default, why: str):
    """A field that does not change what is encoded (so a cached file stays valid)."""
    return field(default=default, metadata={"cache_key": None, "cache_role": why})


@dataclass
class DatasetSpec:
    """The dataset settings the encoder needs (taken from the validated config).

    Every field declares whether it shapes the cached latents (tests/test_dataset_cache.py
    holds each one to it): a new field cannot silently reuse stale cache files. Defaults are
    the dataset section's (toolkit/configuration/defaults.py); do_audio and spread left as
    None follow num_frames and do_audio by the config's own automatic rules."""

    folder: str = field(metadata={"cache_key": None, "cache_role": "the file path is in the key"})
    caption_ext: str = _not_shaping(_ds("caption_ext"), "captions are read at load time")
    default_caption: str = _not_shaping(_ds("default_caption"), "captions are read at load time")
    resolution: int = _shapes("resolution", _ds("resolution")[0])  # one bucket size of the list
    num_frames: int = _via_window(_ds("num_frames"))
    fps: float = _shapes("fps", _ds("fps"))
    do_audio: bool | None = _shapes("audio", None)  # None: clips train their audio (num_frames > 1)
    audio_normalize: bool = _shapes("normalize", _ds("audio_normalize"))
    spread: bool | None = _shapes("spread", None)  # shrink_video_to_frames; None: only without audio
    # spread clips: time-stretch the audio at its own pitch; only then does it shape the audio
    preserve_pitch: bool = _shapes("pitch", _ds("audio_preserve_pitch"), when=lambda spec: spec.spread and spec.do_audio)
    flip_x: bool = field(default=_ds("flip_x"), metadata={"cache_key": None, "cache_role": "the item's flip is in the key"})
    flip_y: bool = field(default=_ds("flip_y"), metadata={"cache_key": None, "cache_role": "the item's flip is in the key"})
    num_repeats: int = _not_shaping(_ds("num_repeats"), "repeats reuse the same latents")
    loss_multiplier: float = _not_shaping(_ds("loss_multiplier"), "a loss weight")
    cache_to_disk: bool = _not_shaping(_ds("cache_latents_to_disk"), "where latents are kept, not what they are")
    trigger_word: str | None = _not_shaping(config_default("trigger_word"), "captions are read at load time")
    caption_dropout_rate: float = _not_shaping(_ds("caption_dropout_rate"), "a training-time draw")
    auto_frame_count: bool = _via_window(_ds("auto_frame_count"))
    max_windows: int = _via_window(MAX_WINDOWS_PER_CLIP)  # items a long clip gives (see window_starts)
    # Sets of window positions cached per clip; each epoch trains one set, drawn at random
    # (the batch sampler), so windows move between epochs while latents stay cacheable.
    window_variants: int = _via_window(_ds("window_variants"))
    # Audio-only files have no picture to scale or flip: only the first resolution's pass
    # of a dataset encodes them (the others would add the same sound again).
    encode_audio_files: bool = _not_shaping(True, "which pass encodes the audio files, not what they become")

    def __post_init__(self) -> None:
        if self.do_audio is None:
            self.do_audio = do_audio_for(self.num_frames)
        if self.spread is None:
            self.spread = spread_for(self.do_audio)

    def cache_shaping(self) -> dict:
        """{cache key name: value} of the fields that shape the latents directly."""
        shaping = {}
        for f in fields(self):
            key, when = f.metadata["cache_key"], f.metadata.get("cache_when")
            if key is not None and (when is None or when(self)):
                shaping[key] = getattr(self, f.name)
        return shaping


@dataclass
class CachingReport:
    items: int = 0
    audio_encoded: int = 0  # items with an audio latent, encoded now or read from the cache
    audio_from_cache: int = 0  # of those, read from the cache (no audio decode, no VAE)
    audio_failed: list = field(default_factory=list)  # (path, problem)
    no_audio_stream: list = field(default_factory=list)
    silent_clips: list = field(default_factory=list)  # (path, problem): whole audio track silent
    kinds: Counter = field(default_factory=Counter)  # encoded audio windows: speech, sound, silence
    skipped: list = field(default_factory=list)  # (path, problem)
    cache_hits: int = 0
    cache_rewritten: list = field(default_factory=list)  # (path, reason)
    audio_file_items: int = 0  # items of audio-only files (voice without picture)
    missing_captions: list = field(default_factory=list)
    empty_captions: list = field(default_factory=list)
    caption_problems: list = field(default_factory=list)  # (path, what the caption path is)
    long_captions: list = field(default_factory=list)  # (path, what the text encoder keeps)
    warned: set = field(default_factory=set)  # (kind, path): one warning per file and kind

    def summary(self, list_file: Path | None) -> str:
        listed = (self.audio_failed or self.skipped or self.no_audio_stream or self.missing_captions
                  or self.silent_clips or self.empty_captions or self.caption_problems or self.long_captions)
        where = f" (list in {list_file})" if list_file and listed else ""
        # "encoded" alone read as work done now, next to "read from the cache" for the same latents
        encoded_now = self.audio_encoded - self.audio_from_cache
        return (
            f"Audio latent caching: {self.audio_encoded} audio latents ({encoded_now} encoded now, "
            f"{self.audio_from_cache} from the cache{self._audio_files_part()}), {len(self.audio_failed)} failed{where}; "
            f"windows with audio: {counts_line(self.kinds)}; "
            f"{len(self.no_audio_stream)} clips without an audio stream, {len(self.silent_clips)} clips with a "
            f"silent audio track (video only), {len(self.skipped)} files skipped in whole or in part; "
            f"{self.cache_hits} of {self.items} items read from the cache"
        )

    def _audio_files_part(self) -> str:
        return f"; {self.audio_file_items} of them from audio files" if self.audio_file_items else ""

    def voice_line(self) -> tuple[str, str]:
        """(log level, line): what the encoded audio holds and what the run does with it."""
        audio = sum(self.kinds[kind] for kind in KINDS)
        if not audio:
            return "warning", ("voice: no item carries audio, so the run learns no voice (see the warnings "
                               "above); the voice metric has no voice to compare samples with")
        if not self.kinds[SPEECH]:
            return "warning", (f"voice: no speech in the training clips: the run trains their audio ({audio} "
                               f"windows of {KIND_WORDS['sound']} or silence), but learns no voice; the voice "
                               "metric has no voice to compare samples with. `run.py CONFIG --check` lists the "
                               "clips without speech")
        return "info", (f"voice: {self.kinds[SPEECH]} of {audio} windows with audio have speech "
                        f"({self.kinds[SPEECH] / audio:.0%}): all of them train audio, the speech windows teach the "
                        "voice (strict audio mode counts them)")

    def write_problems(self, path: Path) -> None:
        lines = [f"audio failed\t{p}\t{why}" for p, why in self.audio_failed]
        lines += [f"no audio stream\t{p}\t-" for p in self.no_audio_stream]
        lines += [f"silent audio\t{p}\t{why}" for p, why in self.silent_clips]
        lines += [f"skipped\t{p}\t{why}" for p, why in self.skipped]
        lines += [f"missing caption\t{p}\t-" for p in self.missing_captions]
        lines += [f"empty caption\t{p}\t-" for p in self.empty_captions]
        lines += [f"unreadable caption\t{p}\t{why}" for p, why in self.caption_problems]
        lines += [f"long caption\t{p}\t{why}" for p, why in self.long_captions]
        lines = list(dict.fromkeys(lines))  # each window of a clip fails alike: list the clip once

        atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


#: One item of a file (kept under its old name for readers of this module).
_Window = ClipWindow


def _first(report: CachingReport, key: tuple) -> bool:
    """True the first time `key` is seen in this report (so each file is warned about once)."""
    if key in report.warned:
        return False
    report.warned.add(key)
    return True


def apply_trigger(caption: str, trigger: str | None) -> str:
    """`[trigger]` in a caption becomes the trigger word; otherwise it is prepended once."""
    if not trigger:
        return " ".join(caption.replace("[trigger]", " ").split())
    if "[trigger]" in caption:
        return caption.replace("[trigger]", trigger)
    return f"{trigger} {caption}".strip() if trigger not in caption else caption


def item_caption(file, spec: DatasetSpec) -> str:
    """The caption every item of a dataset file trains with."""
    return apply_trigger(file.caption or "", spec.trigger_word)


def dataset_captions(spec: DatasetSpec) -> set[str]:
    """The captions of a dataset's items, from its files alone (the caption phase runs before
    any clip is decoded)."""
    scan = discover_dataset(spec.folder, caption_ext=spec.caption_ext, default_caption=spec.default_caption)
    return {item_caption(file, spec) for file in scan.files}


def _cache_key(model_id: str, spec: DatasetSpec, path: Path, flip: tuple[bool, bool], window_seed: int,
               window: _Window | None = None, encode_variant: str | None = None) -> str:
    window = window or _Window(spec.num_frames, None, 0, 1)
    # What else the video latents depend on (tiled encoding): only when there is something, so
    # the keys of latents encoded whole stay what they were.
    variant = {"video_encode": encode_variant} if encode_variant else {}
    shaping = {**variant,
        "v": CACHE_VERSION,
        "model": model_id,
        "file": str(path.resolve()),
        "size": path.stat().st_size,
        "content": file_digest(path),  # not mtime: a replaced file may keep it, a touched one changes it
        "frames": window.num_frames,
        "window": [window.index, window.count, None if window.start_s is None else round(window.start_s, 6),
                   None if window.span is None else [round(t, 6) for t in window.span]],
        "flip": flip,
        "window_seed": window_seed,
        **spec.cache_shaping(),
    }
    sar = pixel_aspect(path)
    if sar != 1.0:
        # Non-square pixels were once encoded squeezed (stored shape): such a clip's key names its
        # pixel shape, so those latents are not reused. Square-pixel keys stay as they were.
        shaping["sar"] = round(sar, 6)
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def _load_cached(path: Path, want_audio: bool) -> tuple[dict | None, str | None]:
    """Read and validate a cache file. Returns (contents, None) or (None, why it is stale)."""
    try:
        with safe_open(str(path), "pt") as handle:
            meta = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        return None, f"unreadable ({exc})"
    stored = meta.get(CHECKSUM_KEY)
    if stored is None:
        return None, "no tensor checksum (written by an older version)"
    if stored != tensors_checksum(tensors):
        return None, "its tensors do not match the checksum stored with them (the file was damaged)"
    audio_file = meta.get("kind") == "audio"
    if audio_file and "audio_latent" not in tensors:
        return None, "an audio file's cache without its audio_latent"
    if "video_latent" not in tensors and not audio_file:
        return None, "no video_latent"
    if ("video_latent" in tensors and tensors["video_latent"].ndim != 4) or (
            "audio_latent" in tensors and tensors["audio_latent"].ndim != 2):
        shapes = {k: tuple(v.shape) for k, v in tensors.items()}
        return None, f"unexpected latent shapes {shapes}"
    written = meta.get("audio_status", AudioStatus.NOT_REQUESTED)
    status = read_status(written)
    if status is None:
        return None, f"unknown audio_status '{written}' (written by another version)"
    if want_audio and "audio_latent" not in tensors and \
            status not in (AudioStatus.NO_STREAM, AudioStatus.IMAGE, AudioStatus.SILENT):
        # SOP change AL: a cache written without audio must not silently stand in.
        return None, f"no audio_latent (status '{status}')"
    return {"tensors": tensors, "meta": meta}, None


def _plan_disagrees(meta: dict, plan: ClipPlan, kind: str, want_audio: bool) -> str | None:
    """Why a cached item no longer matches its clip's plan, or None. The plan can change for
    the same file and window when the audio scan changes (a voiced second stream, channels
    measured one by one): an item cached as "silent" must not keep a clip that speaks voiceless."""
    if not want_audio or kind != "video":
        return None
    cached = read_status(meta.get("audio_status", AudioStatus.NOT_REQUESTED))
    if plan.audio_status is None and cached in (AudioStatus.SILENT, AudioStatus.NO_STREAM):
        return f"cached without voice ('{cached}'), but the clip's audio scan now finds sound"
    if plan.audio_status == AudioStatus.SILENT and cached == AudioStatus.OK:
        return "cached with audio, but the clip's audio scan now finds its track silent"
    return None


class DatasetEncoder:
    """Turns dataset folders into EncodedItems with the model's VAEs, with optional disk cache.

    `silence` holds the silent audio latent of every item length it encoded (what stands in
    for missing audio in a batch; toolkit/dataset/silence.py)."""

    def __init__(self, model, model_id: str, seed: int, log, progress: bool = True):
        self.model = model
        self.model_id = model_id
        self.seed = seed
        self.log = log
        self.progress = progress
        self.silence = SilenceLatents(model, f"v{CACHE_VERSION}|{model_id}", log)

    def encode(self, spec: DatasetSpec, report: CachingReport, owned=None) -> list[EncodedItem]:
        """Items of one dataset at one resolution. `owned(i)`: only work items (file, flip) i
        for which it is true are encoded (several processes share the caching this way)."""
        scan = discover_dataset(spec.folder, caption_ext=spec.caption_ext, default_caption=spec.default_caption)
        outputs = scan.outputs_line()
        if outputs and _first(report, ("outputs", str(scan.folder))):
            self.log.warning(outputs)
        files = list(scan.files)
        for file in files:
            self._report_caption(file, spec, report)
        items: list[EncodedItem] = []
        flips = [(False, False)] + ([(True, False)] if spec.flip_x else []) + ([(False, True)] if spec.flip_y else [])
        work = [(f, flip) for f in files for flip in (flips if f.kind != "audio" else flips[:1])
                if f.kind != "audio" or self._takes_audio_file(spec, f, report)]
        encoded = 0
        if owned is not None:
            work = [w for index, w in enumerate(work) if owned(index)]
        # One bar for the whole pass: audio scans, cached latents verified (checksums) or encoded.
        with Progress(len(work), f"caching {Path(spec.folder).name}", "file", self.log,
                      enabled=self.progress) as progress:
            for file, flip in work:
                for item in self._encode_file(spec, file, flip, report):
                    encoded += 1
                    items.extend([item] * spec.num_repeats)
                progress.update(Path(file.path).name)
        self.log.info(f"{spec.folder} at {spec.resolution}px: {len(files)} files -> {encoded} items"
                      f"{f' x{spec.num_repeats} repeats' if spec.num_repeats > 1 else ''}")
        return items

    def _takes_audio_file(self, spec: DatasetSpec, file, report: CachingReport) -> bool:
        """Whether this pass encodes audio-only ``file``: the first resolution's pass of a
        dataset with audio on; with audio off the file is skipped, said once."""
        if not spec.encode_audio_files:
            return False
        if not spec.do_audio:
            self._skip(report, Path(file.path), "an audio file in a dataset with do_audio off trains nothing: set "
                       "num_frames above 1 (an audio file is cut into windows of num_frames / fps seconds) and "
                       "leave do_audio on, or remove the file")
            return False
        return True

    def _report_caption(self, file, spec: DatasetSpec, report: CachingReport) -> None:
        """One line per file whose caption is not what the user wrote (or is nothing): `--check`
        names the same files as problems."""
        path = str(file.path)
        if file.caption_note and _first(report, ("caption-note", path)):
            self.log.info(f"note: {path}: {file.caption_note}")
        if not _first(report, ("caption", path)):
            return
        fallback = "default_caption" if file.caption else "an empty caption"
        if file.caption_source == "missing":
            report.missing_captions.append(path)
            self.log.warning(
                f"{path}: no caption file and no default_caption; training it with an empty caption "
                f"(add {Path(path).stem}.{spec.caption_ext} beside it or set default_caption)"
            )
        elif file.caption_source == "unreadable":
            report.caption_problems.append((path, file.caption_problem))
            self.log.warning(f"{path}: {file.caption_problem}; training it with {fallback} (the caption must "
                             "be a text file beside the clip)")
        elif file.caption_source == "file" and not file.caption:
            report.empty_captions.append(path)
            self.log.warning(f"{path}: its caption file {Path(path).stem}.{spec.caption_ext} is empty; training it "
                             "with an empty caption (write the caption in it)")

    def _encode_file(self, spec: DatasetSpec, file, flip, report: CachingReport) -> list[EncodedItem]:
        """All items of one file (one per window of a long clip), skipping what cannot load."""
        path = Path(file.path)
        caption = item_caption(file, spec)
        seed = window_seed(self.seed, path)
        try:
            plan = self._plan_windows(spec, file)
        except MediaError as exc:
            self._skip(report, path, exc.problem)
            return []
        for note in audio_notes(plan.coverage) if plan.coverage is not None else []:
            if _first(report, ("audio-note", str(path), note)):
                self.log.info(f"note: {path}: {note}")
        items = []
        for number, window in enumerate(plan.windows):
            item = self._encode_window(spec, file, caption, flip, seed, window, plan, report)
            if item is not None:
                cache_dir = path.parent / CACHE_DIR_NAME if spec.cache_to_disk else None
                self.silence.ensure(item.num_audio_samples, cache_dir, lambda exc: self._write_failed(report, exc))
                item.clip_key = f"{path}|{flip}|{spec.resolution}"
                item.variant, item.variants = window.variant, window.variants
                if item.audio_status == AudioStatus.OK and plan.kinds:
                    report.kinds[plan.kinds[number]] += 1
                    item.speech = plan.kinds[number] == SPEECH
                items.append(item)
        return items

    def _plan_windows(self, spec: DatasetSpec, file) -> ClipPlan:
        """One window for an image; for a clip, the plan `--check` makes too
        (toolkit.dataset.window_plan): windows where both tracks are, and their audio's fate."""
        keep = Path(file.path).parent / CACHE_DIR_NAME if spec.cache_to_disk else None
        if file.kind == "audio":
            return plan_audio_file(file.path, num_frames=spec.num_frames, fps=spec.fps,
                                   auto_frames=spec.auto_frame_count, seed=self.seed, max_windows=spec.max_windows,
                                   window_variants=spec.window_variants, keep_scan_in=keep)
        if file.kind != "video":
            return ClipPlan([_Window(spec.num_frames, None, 0, 1)])
        info = probe_media(file.path)
        return plan_clip(file.path, info.duration_s, info.has_audio, num_frames=spec.num_frames, fps=spec.fps,
                         spread=spec.spread, auto_frames=spec.auto_frame_count, do_audio=spec.do_audio,
                         seed=self.seed, max_windows=spec.max_windows, window_variants=spec.window_variants,
                         keep_scan_in=keep)

    def _encode_window(self, spec, file, caption, flip, window_seed, window, plan, report) -> EncodedItem | None:
        path = Path(file.path)
        cache_file = None
        if spec.cache_to_disk:
            key = _cache_key(self.model_id, spec, path, flip, window_seed, window,
                             self.model.video_encode_variant(spec.resolution, window.num_frames))
            cache_file = path.parent / CACHE_DIR_NAME / f"{path.stem}_{key}.safetensors"
            if cache_file.exists():
                cached, stale = _load_cached(cache_file, spec.do_audio)
                if cached is not None:
                    stale = _plan_disagrees(cached["meta"], plan, file.kind, spec.do_audio)
                if stale is None:
                    report.cache_hits += 1
                    return self._item_from_cache(spec, path, caption, cached, plan, report)
                report.cache_rewritten.append((str(cache_file), stale))
                self.log.info(f"note: re-encoding stale cache {cache_file}: {stale}")
        try:
            if file.kind == "audio":
                item = self._encode_fresh_audio(spec, file, caption, window, plan, report)
            else:
                item = self._encode_fresh(spec, file, caption, flip, window, plan, report)
        except MediaError as exc:
            self._skip(report, path, exc.problem, window)
            return None
        if cache_file is not None:
            self._write_cache(cache_file, item, window, report)
        return item

    def _write_cache(self, cache_file: Path, item: EncodedItem, window: _Window, report: CachingReport) -> None:
        # An audio file's video is the model's placeholder: made on load, never stored.
        tensors = {} if item.audio_only else {"video_latent": item.video_latent.contiguous()}
        if item.audio_latent is not None:
            tensors["audio_latent"] = item.audio_latent.contiguous()
        meta = {"audio_status": str(item.audio_status), "num_audio_samples": str(item.num_audio_samples),
                "window_start_s": str(item.window_start_s), "num_frames": str(window.num_frames),
                "window": f"{window.index + 1}/{window.count}", CHECKSUM_KEY: tensors_checksum(tensors)}
        if item.audio_only:
            meta["kind"] = "audio"
        try:
            atomic_save_tensors(cache_file, tensors, meta)
        except WriteFailed as exc:  # a full disk or a read-only folder must not stop the run
            self._write_failed(report, exc)

    def _write_failed(self, report: CachingReport, exc: WriteFailed) -> None:
        """Items' and silence files alike: one warning, then the latents live in memory."""
        if _first(report, ("cache-write", None)):
            self.log.warning(f"could not write the latent cache: {exc}; items are kept in memory "
                             f"for this run. Free disk space or make {Path(exc.path).parent} writable "
                             "(further cache write failures are not shown)")

    def _skip(self, report: CachingReport, path: Path, problem: str, window: _Window | None = None) -> None:
        """One warning per file. A window of a longer clip is named as such: the clip's other
        windows still train (`--check` counts the lost ones the same way)."""
        if _first(report, ("skip", str(path))):
            report.skipped.append((str(path), problem))
            what = str(path) if window is None or window.count == 1 else \
                f"window {window.index + 1} of {window.count} of {path} (its other windows train)"
            self.log.warning(f"skipping {what}: {problem}")

    def _item_from_cache(self, spec, path, caption, cached, plan: ClipPlan, report) -> EncodedItem:
        tensors, meta = cached["tensors"], cached["meta"]
        audio = tensors.get("audio_latent")
        status = read_status(meta.get("audio_status", AudioStatus.NOT_REQUESTED))  # _load_cached refused others
        self._count_audio(report, path, status, plan.audio_problem)
        report.audio_from_cache += status == AudioStatus.OK
        report.items += 1
        audio_only = meta.get("kind") == "audio"
        report.audio_file_items += audio_only
        video = self.model.placeholder_video_latent() if audio_only else tensors["video_latent"]
        return EncodedItem(
            path=str(path), caption=caption, video_latent=video, audio_latent=audio,
            audio_status=status, fps=spec.fps, num_audio_samples=int(meta.get("num_audio_samples", 0)),
            loss_multiplier=spec.loss_multiplier, window_start_s=float(meta.get("window_start_s", 0.0)),
            caption_dropout_rate=spec.caption_dropout_rate, audio_only=audio_only,
        )

    def _encode_fresh_audio(self, spec, file, caption, window: _Window, plan: ClipPlan, report) -> EncodedItem:
        """One window of an audio-only file: its sound through the audio VAE, the model's
        placeholder as its video (the planned windows all carry voice: the plan said so)."""
        audio, status, problem = load_audio_window(file, num_frames=window.num_frames, fps=spec.fps,
                                                   start_s=window.start_s, audio_normalize=spec.audio_normalize,
                                                   stream=plan.audio_stream)
        if audio is None:  # the window that --check would name too
            raise MediaError(Path(file.path), problem or "its audio could not be decoded")
        audio_latent = self.model.encode_audio(audio.unsqueeze(0))[0].cpu()
        self._count_audio(report, Path(file.path), status, problem)
        report.items += 1
        report.audio_file_items += 1
        return EncodedItem(
            path=str(file.path), caption=caption, video_latent=self.model.placeholder_video_latent(),
            audio_latent=audio_latent, audio_status=status, fps=spec.fps, num_audio_samples=audio.shape[-1],
            loss_multiplier=spec.loss_multiplier, window_start_s=float(window.start_s or 0.0),
            caption_dropout_rate=spec.caption_dropout_rate, audio_only=True,
        )

    def _encode_fresh(self, spec, file, caption, flip, window: _Window, plan: ClipPlan, report) -> EncodedItem:
        loaded = load_training_item(
            file,
            num_frames=window.num_frames,
            fps=spec.fps,
            resolution=spec.resolution,
            do_audio=spec.do_audio,
            audio_normalize=spec.audio_normalize,
            spread=spec.spread,
            preserve_pitch=spec.preserve_pitch,
            flip_x=flip[0],
            flip_y=flip[1],
            rng=random.Random(window.index),
            start_s=window.start_s,
            span=window.span,
            audio_verdict=None if plan.audio_status is None else (plan.audio_status, plan.audio_problem),
            audio_stream=plan.audio_stream,
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

    def _count_audio(self, report: CachingReport, path: Path, status: AudioStatus, problem: str | None) -> None:
        if status == AudioStatus.OK:
            report.audio_encoded += 1
        elif status == AudioStatus.FAILED:  # counted per item, warned once per file
            report.audio_failed.append((str(path), problem or "audio could not be decoded"))
            if _first(report, ("audio", str(path))):
                self.log.warning(f"{path}: no usable audio, its items train without voice: {problem}")
        elif status == AudioStatus.SILENT and _first(report, ("audio", str(path))):
            problem = problem or "its audio track is silent"
            report.silent_clips.append((str(path), problem))
            self.log.warning(f"{path}: {problem}, so its items train without voice: replace its audio with the "
                             "character speaking, or remove the clip")
        elif status == AudioStatus.NO_STREAM and _first(report, ("audio", str(path))):
            report.no_audio_stream.append(str(path))
            self.log.warning(f"{path}: has no audio stream; it trains video only (add sound or set do_audio: false)")

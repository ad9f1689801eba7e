"""The character's reference voice: the speaker embedding of the training clips' speech.

Each video clip and audio file of a dataset with audio is decoded whole (16 kHz), its
speech found by the trainer's one speech detector (toolkit/voice/speech.py) and embedded
(toolkit.voice.similarity); the reference is the mean of the clips' embeddings weighted by
their seconds of speech, so a clip with one word counts less than one with a paragraph.
Clips without enough speech (silence, or non-speech audio: music, tones, noise), without an
audio stream, or whose audio fails to decode are left out and counted; `--check` counts
"clips with speech" by the same rule.

The per-clip embeddings are cached beside the latents (`<dataset>/_latent_cache/
reference_voice.json`, written atomically) keyed by each file's size and modification
time, so a resumed run (or a second run on the same data) embeds only new or changed clips.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.dataset.audio_coverage import scan_audio
from toolkit.dataset.discovery import discover_dataset
from toolkit.errors import MediaError, NoAudioStream
from toolkit.media.audio_decode import decode_audio
from toolkit.run.output import atomic_write_text
from toolkit.run.progress import Progress
from toolkit.voice.similarity import mean_voice
from toolkit.voice.speech import KIND_WORDS

CACHE_NAME = "reference_voice.json"
# Bump when the scorer's features, VAD or encoder change: old embeddings would not compare.
# 2: the voiced audio stream of a file with several, and a mono mix that keeps a polarity-
# inverted channel (clips excluded as "no speech" by version 1 are embedded again).
CACHE_VERSION = 2


@dataclass
class ClipVoice:
    path: str
    size: int
    mtime_ns: int
    speech_s: float = 0.0
    vector: list[float] | None = None
    excluded: str | None = None  # "no_speech" | "no_audio_stream" | "audio_failed"
    problem: str | None = None


@dataclass
class ReferenceVoice:
    vector: np.ndarray | None
    clips: list[ClipVoice] = field(default_factory=list)
    embedded: int = 0  # clips embedded now (the others came from the cache)

    @property
    def used(self) -> list[ClipVoice]:
        return [c for c in self.clips if c.vector is not None]

    def excluded(self, reason: str) -> list[ClipVoice]:
        return [c for c in self.clips if c.excluded == reason]

    @property
    def speech_s(self) -> float:
        return sum(c.speech_s for c in self.used)

    def counts(self) -> dict:
        return {"clips": len(self.used), "speech_s": round(self.speech_s, 2),
                "excluded_no_speech": len(self.excluded("no_speech")),
                "excluded_no_audio": len(self.excluded("no_audio_stream")),
                "excluded_failed": len(self.excluded("audio_failed")),
                "embedded_now": self.embedded, "from_cache": len(self.clips) - self.embedded}

    def summary(self) -> str:
        c = self.counts()
        return (f"reference voice: {c['clips']} clips with speech ({c['speech_s']:.1f} s); left out "
                f"{c['excluded_no_speech']} without speech (silence or {KIND_WORDS['sound']}), "
                f"{c['excluded_no_audio']} without an audio stream, {c['excluded_failed']} whose audio failed to "
                f"decode; {c['from_cache']} clips from the cache")


def _load_cache(path: Path, log) -> dict[str, dict]:
    """Cached clip entries by file path; an unreadable or outdated cache is rebuilt (said once)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.info(f"note: rebuilding the unreadable reference voice cache {path} ({exc})")
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("clips"), dict):
        log.info(f"note: rebuilding the reference voice cache {path} (written by another version)")
        return {}
    return data["clips"]


def _embed_clip(encoder, path: Path, stat, keep_scan_in: Path | None) -> ClipVoice:
    """One clip's voice, from the audio stream the run trains (the scan picks the one with sound)."""
    clip = ClipVoice(str(path), stat.st_size, stat.st_mtime_ns)
    try:
        stream = scan_audio(path, keep_scan_in).stream
        wave = decode_audio(path, sample_rate=16000, stream=stream)
    except NoAudioStream:
        clip.excluded = "no_audio_stream"
        return clip
    except MediaError as exc:
        clip.excluded, clip.problem = "audio_failed", exc.problem
        return clip
    voice = encoder.embed(wave, 16000)
    if voice is None:
        clip.excluded = "no_speech"
        return clip
    clip.speech_s = round(voice.speech_s, 3)
    clip.vector = [float(v) for v in voice.vector]
    return clip


def dataset_clip_voices(folder: str, encoder, cache_to_disk: bool, log, caption_ext: str = "txt",
                        default_caption: str = "") -> tuple[list[ClipVoice], int]:
    """(ClipVoice per video clip and audio file of one dataset folder, how many were embedded now)."""
    scan = discover_dataset(folder, caption_ext=caption_ext, default_caption=default_caption)
    cache_path = Path(folder) / "_latent_cache" / CACHE_NAME
    keep_scan_in = cache_path.parent if cache_to_disk else None
    cached = _load_cache(cache_path, log) if cache_to_disk else {}
    clips, embedded = [], 0
    voiced = [f for f in scan.files if f.kind in ("video", "audio")]  # audio files are the voice too
    with Progress(len(voiced), f"reference voice {scan.folder.name}", "clip", log) as progress:
        for file in voiced:
            path = Path(file.path)
            try:
                stat = path.stat()
            except OSError as exc:  # a link that loops or points nowhere: the run skips it, so does the voice
                clips.append(ClipVoice(str(path), 0, 0, excluded="audio_failed", problem=exc.strerror or str(exc)))
                progress.update(path.name)
                continue
            entry = cached.get(str(path))
            if entry and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
                clips.append(ClipVoice(**entry))
            else:
                clips.append(_embed_clip(encoder, path, stat, keep_scan_in))
                embedded += 1
            progress.update(path.name)
    if cache_to_disk and (embedded or len(cached) != len(clips)):
        payload = {"version": CACHE_VERSION, "clips": {c.path: c.__dict__ for c in clips}}
        try:
            atomic_write_text(cache_path, json.dumps(payload))
        except OSError as exc:  # a read-only dataset folder must not stop the run
            log.warning(f"could not write {cache_path} ({exc}); the reference voice is recomputed next time")
    return clips, embedded


def build_reference_voice(datasets, encoder, log) -> ReferenceVoice:
    """The reference voice over every dataset with audio (`datasets`: validated configs)."""
    clips, embedded = [], 0
    for ds in datasets:
        if not ds.do_audio:
            continue
        found, now = dataset_clip_voices(ds.folder_path, encoder, ds.cache_latents_to_disk, log,
                                         caption_ext=ds.caption_ext, default_caption=ds.default_caption)
        clips += found
        embedded += now
    used = [c for c in clips if c.vector is not None]
    vector = mean_voice([np.asarray(c.vector, np.float32) for c in used], [c.speech_s for c in used])
    return ReferenceVoice(vector, clips, embedded)

"""Where a clip has sound: the span its audio track covers, how loud each part is, and where
it speaks.

Real files often end their audio track before their video (0.1-0.7 s is common after an
edit or an export), and some carry an audio track of digital silence. A window placed past
the audio's end, or a clip with nothing to hear, would train without voice while looking
like a clip with voice. :func:`scan_audio` decodes the whole track once (the same decoders
and fallback as training, :func:`toolkit.media.audio_decode.decode_audio`) and returns an
:class:`AudioCoverage` that both the run and ``--check`` plan their windows with.

With a latent cache folder, the scan is kept there as a small JSON file named by the media
file's content hash, so a run served from the cache does not decode every clip's audio
again (that decode was most of a cache-served pass's time per clip: bench/data_trust.py).

Loudness is measured per 50 ms block and per channel (RMS of each 16 kHz channel, in dBFS;
a block's level is its loudest channel's): a mono mix would turn a voice recorded with one
channel polarity-inverted into silence, while the model hears each channel's spectrum
(toolkit/media/channels.py). A span is *silent* when no block in it reaches
:data:`SILENCE_DBFS`. Speech is found in the same pass by the trainer's one speech detector
(toolkit/voice/speech.py, on the phase-safe mono mix the speaker encoder hears), one flag
per 32 ms, so every window of a clip is named speech, non-speech audio (music, tones, noise)
or silence without decoding it again. A whole silent track trains no audio at all; the
other kinds all train audio, and only speech counts as voice.

A file with several audio streams (a camera's track and a lavalier's, a silent guide track
before the real one) is measured stream by stream when its first stream is silent: the
first stream with sound is the one the run decodes (``AudioCoverage.stream``), and
:func:`audio_notes` says so.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import av
import av.error
import numpy as np

from toolkit.atomic import atomic_write_text
from toolkit.dataset.cache_integrity import file_digest
from toolkit.errors import MediaError, WriteFailed
from toolkit.media.audio_decode import decode_audio
from toolkit.media.channels import channels_inverted, phase_safe_mono
from toolkit.media.video_decode import timeline_origin_s
from toolkit.voice.speech import clip_has_speech, detect_speech, span_kind, speech_seconds

#: A span whose loudest 50 ms block stays below this (dBFS) holds no sound worth learning.
SILENCE_DBFS = -60.0
#: Loudness block length (s).
BLOCK_S = 0.05
#: Sample rate of the scan (Hz): LTX-2's audio rate, which is also what training decodes.
SCAN_RATE = 16000
#: dBFS reported for digital silence (log of zero).
FLOOR_DBFS = -120.0
#: Version of the kept scan files (a change of the measurement must not reuse old ones).
#: 2: levels per channel (was the mono mix), the chosen stream, the inverted-channel flag.
#: 3: the speech detector's flags.
_KEPT_VERSION = 3


@dataclass(frozen=True)
class AudioCoverage:
    """The audio track of one clip on the file's timeline (seconds from its origin).

    Attributes:
        start_s: where the track starts (0 unless the stream starts late).
        end_s: where the decoded track ends.
        block_dbfs: loudness of each :data:`BLOCK_S` block from time 0, its loudest
            channel's (float32).
        stream: the audio stream measured (and the one to decode), counted from 0 among
            the file's audio streams.
        streams: how many audio streams the file has.
        inverted: the second channel is the first one polarity-inverted (a mono mix of
            the two cancels the voice; the model hears each channel, so it trains as is).
        title: the measured stream's title or language tag, if it has one ("" if not).
        speech: the speech detector's verdict per 32 ms chunk from time 0 (bool).
    """

    start_s: float
    end_s: float
    block_dbfs: np.ndarray
    stream: int = 0
    streams: int = 1
    inverted: bool = False
    title: str = ""
    speech: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def peak_dbfs(self) -> float:
        """Level of the loudest block of the whole track."""
        return float(self.block_dbfs.max()) if self.block_dbfs.size else FLOOR_DBFS

    @property
    def silent(self) -> bool:
        """The whole track is below :data:`SILENCE_DBFS`: the clip carries no voice."""
        return self.peak_dbfs < SILENCE_DBFS

    def level_dbfs(self, start_s: float, duration_s: float) -> float:
        """Level of the loudest block overlapping ``[start_s, start_s + duration_s)``."""
        first = max(0, int(math.floor(start_s / BLOCK_S)))
        last = min(self.block_dbfs.size, int(math.ceil((start_s + duration_s) / BLOCK_S)))
        return float(self.block_dbfs[first:last].max()) if last > first else FLOOR_DBFS

    def span_silent(self, start_s: float, duration_s: float) -> bool:
        return self.level_dbfs(start_s, duration_s) < SILENCE_DBFS

    @property
    def speech_s(self) -> float:
        """Seconds of speech in the whole track."""
        return speech_seconds(self.speech)

    @property
    def has_speech(self) -> bool:
        """The track holds enough speech for a voice (the reference voice's own rule)."""
        return clip_has_speech(self.speech)

    def kind(self, start_s: float, duration_s: float) -> str:
        """``"speech"``, ``"sound"`` (music, tones, noise) or ``"silence"`` for a span."""
        return span_kind(self.speech, self.span_silent(start_s, duration_s), start_s, duration_s)

    def stream_name(self, stream: int | None = None) -> str:
        """"audio stream #2 (voice)": the words a message names a stream with (counted from 1)."""
        stream = self.stream if stream is None else stream
        return f"audio stream #{stream + 1}" + (f" ({self.title})" if self.title and stream == self.stream else "")


def audio_notes(coverage: AudioCoverage) -> list[str]:
    """What the scan did about the clip's audio that a user should hear of (without the path):
    a voiced stream picked after a silent first one, channels that cancel in a mono mix."""
    notes = []
    if coverage.stream > 0:
        skipped = "audio stream #1 is" if coverage.stream == 1 else f"audio streams #1-#{coverage.stream} are"
        notes.append(f"{skipped} silent; training uses {coverage.stream_name()} of its {coverage.streams}, "
                     "which carries sound")
    if coverage.inverted:
        notes.append("its two audio channels are polarity-inverted copies (right = -left): a mono mix would be "
                     "silence, but each channel carries the voice at "
                     f"{coverage.peak_dbfs:.0f} dBFS; it trains as recorded (the audio VAE takes each channel's "
                     "spectrum, which the inversion does not change) and the voice checks hear it")
    return notes


def scan_audio(path: str | os.PathLike, keep_in: Path | None = None) -> AudioCoverage:
    """Decode the whole audio track of ``path`` once and measure it (memoised per file
    version, so a run's flips and resolutions scan each clip once). With ``keep_in`` (a
    latent cache folder), the result is read from there when a scan of the same content was
    kept, and kept there otherwise.

    Raises:
        NoAudioStream: the file has no audio stream.
        MediaError: no decoder could decode the track (each decoder's error is named).
    """
    path = Path(path).resolve()
    stat = path.stat()
    if keep_in is None:
        return _scan(str(path), stat.st_size, stat.st_mtime_ns)
    kept = Path(keep_in) / f"{path.stem}_{file_digest(path)[:16]}.audio.json"
    coverage = _read_kept(kept)
    if coverage is None:
        coverage = _scan(str(path), stat.st_size, stat.st_mtime_ns)
        _keep(kept, coverage)
    return coverage


def _read_kept(kept: Path) -> AudioCoverage | None:
    """A kept scan, or None when there is none or it is unreadable (then it is made again)."""
    try:
        data = json.loads(kept.read_text(encoding="utf-8"))
        if data.get("v") != _KEPT_VERSION:
            return None
        return AudioCoverage(float(data["start_s"]), float(data["end_s"]),
                             np.asarray(data["block_dbfs"], dtype=np.float32), int(data["stream"]),
                             int(data["streams"]), bool(data["inverted"]), str(data["title"]),
                             np.frombuffer(data["speech"].encode("ascii"), dtype=np.uint8) == ord("1"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # damaged: scanning again costs one decode, and rewrites it


def _keep(kept: Path, coverage: AudioCoverage) -> None:
    """Write the scan atomically. A folder that cannot be written is not an error here: the
    latent cache files written next to it report that folder's problem once."""
    data = {"v": _KEPT_VERSION, "start_s": coverage.start_s, "end_s": coverage.end_s,
            "block_dbfs": [float(x) for x in coverage.block_dbfs],  # float32 -> float is exact
            "stream": coverage.stream, "streams": coverage.streams, "inverted": coverage.inverted,
            "title": coverage.title, "speech": "".join("1" if flag else "0" for flag in coverage.speech)}
    try:
        atomic_write_text(kept, json.dumps(data))
    except WriteFailed:
        return


@lru_cache(maxsize=256)
def _scan(path: str, size: int, mtime_ns: int) -> AudioCoverage:
    """The first audio stream's coverage; when it is silent and the file has more streams,
    the first of the others that has sound (all silent: the first one, silent)."""
    headers = _stream_headers(Path(path))
    first = _scan_stream(path, 0, headers)
    if not first.silent or first.streams < 2:
        return first
    for stream in range(1, first.streams):
        try:
            other = _scan_stream(path, stream, headers)
        except MediaError:
            continue  # an undecodable second stream does not make the first one fail
        if not other.silent:
            return other
    return first


def _scan_stream(path: str, stream: int, headers: list[tuple[float, str]]) -> AudioCoverage:
    wave = decode_audio(path, 0.0, None, sample_rate=SCAN_RATE, stream=stream).numpy()  # [2, N] from the origin
    # The detector hears the downmix the speaker encoder embeds (voice_similarity.to_mono_16k).
    speech = detect_speech(phase_safe_mono(wave))
    block = int(round(BLOCK_S * SCAN_RATE))
    blocks = math.ceil(wave.shape[1] / block)
    padded = np.zeros((wave.shape[0], blocks * block))
    padded[:, : wave.shape[1]] = wave
    rms = np.sqrt(np.mean(padded.reshape(wave.shape[0], blocks, block) ** 2, axis=2)).max(axis=0)
    dbfs = np.maximum(20 * np.log10(np.maximum(rms, 1e-12)) + 3.0103, FLOOR_DBFS)  # sine at full scale = 0 dBFS
    start, title = headers[stream] if stream < len(headers) else (0.0, "")
    return AudioCoverage(start, wave.shape[1] / SCAN_RATE, dbfs.astype(np.float32), stream,
                         max(len(headers), stream + 1), channels_inverted(wave), title, speech)


def _stream_headers(path: Path) -> list[tuple[float, str]]:
    """(start on the file's timeline, title or language) of each audio stream, from the header.

    The decoded waveform cannot tell a late-starting track from leading silence (both are
    zeros there), so the header says. An empty list when PyAV cannot open the file (the
    ffmpeg program may still decode its first stream: start 0.0 then)."""
    try:
        with av.open(str(path)) as container:
            origin = timeline_origin_s(container)
            out = []
            for stream in container.streams.audio:
                start = 0.0
                if stream.start_time is not None and stream.time_base is not None:
                    start = max(0.0, float(stream.start_time * stream.time_base) - origin)
                tags = stream.metadata or {}
                title = tags.get("title") or tags.get("name") or ""
                language = tags.get("language", "")
                if language and language != "und":
                    title = f"{title}, {language}" if title else language
                out.append((start, title))
            return out
    except av.error.FFmpegError:
        return []  # the ffmpeg program decoded the track where PyAV cannot open the file

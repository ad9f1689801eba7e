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

Loudness is measured per 50 ms block (RMS of the 16 kHz downmix, in dBFS); a span is
*silent* when no block in it reaches :data:`SILENCE_DBFS`. Speech is found in the same pass
by the trainer's one speech detector (toolkit/voice/speech.py), one flag per 32 ms, so every
window of a clip is named speech, non-speech audio (music, tones, noise) or silence without
decoding it again. A whole silent track trains no audio at all; the other kinds all train
audio, and only speech counts as voice.
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
from toolkit.cache_integrity import file_digest
from toolkit.errors import WriteFailed
from toolkit.media.audio_decode import decode_audio
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
#: Version of the kept scan files (a change of the measurement must not reuse old ones;
#: 2: speech flags added).
_KEPT_VERSION = 2


@dataclass(frozen=True)
class AudioCoverage:
    """The audio track of one clip on the file's timeline (seconds from its origin).

    Attributes:
        start_s: where the track starts (0 unless the stream starts late).
        end_s: where the decoded track ends.
        block_dbfs: loudness of each :data:`BLOCK_S` block from time 0 (float32).
        speech: the speech detector's verdict per 32 ms chunk from time 0 (bool).
    """

    start_s: float
    end_s: float
    block_dbfs: np.ndarray
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
                             np.asarray(data["block_dbfs"], dtype=np.float32),
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
            "speech": "".join("1" if flag else "0" for flag in coverage.speech)}
    try:
        atomic_write_text(kept, json.dumps(data))
    except WriteFailed:
        return


@lru_cache(maxsize=256)
def _scan(path: str, size: int, mtime_ns: int) -> AudioCoverage:
    wave = decode_audio(path, 0.0, None, sample_rate=SCAN_RATE).numpy()  # [2, N] from the origin
    # The detector hears the float32 downmix the speaker encoder embeds (voice_similarity.to_mono_16k).
    speech = detect_speech(wave.mean(axis=0))
    mono = wave.mean(axis=0, dtype=np.float64)
    block = int(round(BLOCK_S * SCAN_RATE))
    blocks = math.ceil(mono.size / block)
    padded = np.zeros(blocks * block)
    padded[: mono.size] = mono
    rms = np.sqrt(np.mean(padded.reshape(blocks, block) ** 2, axis=1))
    dbfs = np.maximum(20 * np.log10(np.maximum(rms, 1e-12)) + 3.0103, FLOOR_DBFS)  # sine at full scale = 0 dBFS
    return AudioCoverage(_stream_start_s(Path(path)), mono.size / SCAN_RATE, dbfs.astype(np.float32), speech)


def _stream_start_s(path: Path) -> float:
    """Start of the first audio stream on the file's timeline, from the container's header.

    The decoded waveform cannot tell a late-starting track from leading silence (both are
    zeros there), so the header says. 0.0 when PyAV cannot tell (the decode already
    succeeded, so this is only a refinement)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0] if container.streams.audio else None
            if stream is None or stream.start_time is None or stream.time_base is None:
                return 0.0
            return max(0.0, float(stream.start_time * stream.time_base) - timeline_origin_s(container))
    except av.error.FFmpegError:
        return 0.0  # the ffmpeg program decoded the track where PyAV cannot open the file

"""Turn one dataset file into one training item: frames, waveform, caption.

Audio span choice: the waveform covers exactly the span the frames represent, so the
voice stays in sync with the picture:

* contiguous window (default): ``[start_s, start_s + num_frames / fps)``, decoded at
  16 kHz -> ``round(num_frames / fps * 16000)`` samples at natural speed and pitch;
* spread window (``spread=True``): the whole clip is squeezed into the same
  ``round(num_frames / fps * 16000)`` samples, time-compressed exactly like the motion.
  With ``preserve_pitch`` (the default) FFmpeg's ``atempo`` shortens it at the voice's own
  pitch (``toolkit.media.audio_stretch``); without it the clip is decoded at a
  proportionally lower rate and labelled 16 kHz, which raises the pitch by the same factor.

Audio never disappears quietly (SOP root causes 3, 20, 21, 23): every item says why it
has no waveform in ``audio_status`` (and ``audio_problem`` for failures); the caller
reports ``NO_STREAM`` and ``FAILED`` items by file name.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from toolkit.dataset.audio_status import AudioStatus
from toolkit.dataset.discovery import DatasetFile
from toolkit.dataset.frames import FrameWindow, choose_bucket, choose_window, resize_and_crop
from toolkit.dataset.frames import flip_x as _flip_x
from toolkit.dataset.frames import flip_y as _flip_y
from toolkit.errors import MediaError, NoAudioStream
from toolkit.media.audio_decode import decode_audio, peak_normalize
from toolkit.media.audio_stretch import time_stretch
from toolkit.media.video_decode import decode_frames, load_image, probe_media

#: Sample rate of item waveforms (LTX-2's audio VAE input), Hz.
AUDIO_SAMPLE_RATE = 16000


@dataclass
class TrainingItem:
    """One training example.

    Attributes:
        path: the media file.
        caption: caption text.
        frames: float32 ``[F, 3, H, W]`` in [-1, 1]; F = num_frames (1 for images),
            H and W multiples of 32.
        audio: float32 ``[2, N]`` at 16 kHz with N = round(num_frames / fps · 16000),
            or None (see ``audio_status``).
        audio_status: why there is or is no waveform (:class:`AudioStatus`).
        audio_problem: why audio is missing (decoders' errors for ``FAILED``), or None.
        start_s: start of the frames' span in the clip (s).
        duration_s: length of the frames' span in the clip (s): num_frames / fps for a
            contiguous window, the clip length when spread, 1 / fps for an image.
        fps: frame rate the frames were sampled at (frames/s).
    """

    path: Path
    caption: str
    frames: torch.Tensor
    audio: torch.Tensor | None
    audio_status: AudioStatus
    audio_problem: str | None
    start_s: float
    duration_s: float
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def load_training_item(
    file: DatasetFile,
    *,
    num_frames: int,
    fps: float,
    resolution: int,
    do_audio: bool,
    audio_normalize: bool,
    spread: bool,
    flip_x: bool,
    flip_y: bool,
    rng: random.Random,
    start_s: float | None = None,
    span: tuple[float, float] | None = None,
    audio_verdict: tuple[str, str] | None = None,
    preserve_pitch: bool = True,
    audio_stream: int = 0,
) -> TrainingItem:
    """Load ``file`` as a :class:`TrainingItem`.

    Args:
        file: from :func:`toolkit.dataset.discovery.discover_dataset`.
        num_frames: frames per video item (8k+1 for LTX-2; images give 1 frame).
        fps: frame rate to sample at (frames/s).
        resolution: bucket side; the frame area is about resolution² pixels.
        do_audio: decode the audio span of videos.
        audio_normalize: peak-normalise the waveform to 0.95.
        spread: spread the frames over the whole clip (time-compressed; see module doc).
        flip_x, flip_y: mirror the frames (ai-toolkit adds a mirrored copy of each
            file when these are set; the caller passes True for that copy).
        rng: random source for the window start.
        start_s: contiguous window start (s) to use instead of a random one (e.g. one
            of :func:`toolkit.dataset.frames.window_starts`); ignored when spread.
        span: spread only: the ``(start_s, end_s)`` stretch of the clip to spread the
            frames over (the span both tracks cover); default the whole clip.
        audio_verdict: ``(audio_status, problem)`` decided for the whole clip beforehand
            (see :mod:`toolkit.dataset.window_plan`): its audio is not decoded.
        preserve_pitch: spread only: time-stretch the audio at its own pitch.
        audio_stream: which audio stream carries the voice (the clip's plan says, see
            :func:`toolkit.dataset.audio_coverage.scan_audio`).

    Raises:
        MediaError: the frames cannot be decoded or the clip is too short. Audio
            problems never raise: they are reported in ``audio_status`` /
            ``audio_problem``.
    """
    path = Path(file.path)
    if file.kind == "image":
        raw = load_image(path).unsqueeze(0)  # [1, H, W, 3]
        frames = _frames_to_bucket(raw, resolution, flip_x, flip_y)
        return TrainingItem(path, file.caption, frames, None, AudioStatus.IMAGE, None, 0.0, 1.0 / fps, fps)
    if file.kind != "video":
        raise MediaError(path, f"unknown dataset file kind {file.kind!r} (expected 'video' or 'image'; an "
                               "audio file is read by load_audio_window)")

    info = probe_media(path)
    window = frame_window(info.duration_s, num_frames, fps, rng, spread, path=path, start_s=start_s, span=span)
    raw = decode_frames(path, window.times_s)  # [F, H, W, 3] uint8
    frames = _frames_to_bucket(raw, resolution, flip_x, flip_y)

    audio, status, problem = None, AudioStatus.NOT_REQUESTED, None
    if do_audio and audio_verdict is not None:
        status, problem = audio_verdict
    elif do_audio and not info.has_audio:
        status = AudioStatus.NO_STREAM
        problem = f"{path}: has no audio stream"
    elif do_audio:
        audio, status, problem = _load_audio(path, window, num_frames / fps, spread, audio_normalize,
                                             preserve_pitch, audio_stream)
    return TrainingItem(path, file.caption, frames, audio, status, problem, window.start_s, window.duration_s, fps)


def frame_window(clip_duration_s: float, num_frames: int, fps: float, rng: random.Random, spread: bool, *,
                 path=None, start_s: float | None = None, span: tuple[float, float] | None = None) -> FrameWindow:
    """The frames' instants of one item (``--check`` uses it to look at the run's frames):
    :func:`toolkit.dataset.frames.choose_window`, spread over ``span`` when one is given."""
    if spread and span is not None:
        inner = choose_window(span[1] - span[0], num_frames, fps, rng, True, path=path)
        return FrameWindow([span[0] + t for t in inner.times_s], span[0], inner.duration_s)
    return choose_window(clip_duration_s, num_frames, fps, rng, spread, path=path, start_s=start_s)


def window_audio(path: Path, window: FrameWindow, num_frames: int, fps: float, spread: bool, normalize: bool,
                 preserve_pitch: bool = True, stream: int = 0):
    """``(audio [2, N] | None, status, problem)`` of one item's span, decoded as training does."""
    return _load_audio(Path(path), window, num_frames / fps, spread, normalize, preserve_pitch, stream)


def load_audio_window(file: DatasetFile, *, num_frames: int, fps: float, start_s: float, audio_normalize: bool,
                      stream: int = 0):
    """``(audio [2, N] | None, status, problem)`` of one window of an audio-only file: the
    ``num_frames / fps`` seconds from ``start_s`` at 16 kHz of audio stream ``stream`` (the
    plan's: the first with sound), decoded exactly as a clip's window is (same decoders, same
    failure rules); N = round(num_frames / fps * 16000)."""
    duration_s = num_frames / fps
    window = FrameWindow([start_s], start_s, duration_s)
    return _load_audio(Path(file.path), window, duration_s, False, audio_normalize, stream=stream)


def _frames_to_bucket(raw: torch.Tensor, resolution: int, flip_x: bool, flip_y: bool) -> torch.Tensor:
    """uint8 ``[F, H, W, 3]`` -> float32 ``[F, 3, H', W']`` in [-1, 1] at the bucket size."""
    width, height = choose_bucket(int(raw.shape[2]), int(raw.shape[1]), resolution)
    frames = resize_and_crop(raw, width, height)
    if flip_x:
        frames = _flip_x(frames)
    if flip_y:
        frames = _flip_y(frames)
    return frames


def _load_audio(path: Path, window, target_s: float, spread: bool, normalize: bool,
                preserve_pitch: bool = True, stream: int = 0):
    """Return ``(audio [2, N] | None, status, problem)`` for the window's span (``--check``
    decodes each window through this too, so it fails exactly where training would)."""
    target_n = int(round(target_s * AUDIO_SAMPLE_RATE))
    try:
        if spread and preserve_pitch:
            # Natural-speed decode of the whole span, then atempo to the window's length.
            wave = decode_audio(path, window.start_s, window.duration_s, sample_rate=AUDIO_SAMPLE_RATE,
                                stream=stream).numpy()
            wave = time_stretch(wave, AUDIO_SAMPLE_RATE, window.duration_s / target_s)
            audio = torch.from_numpy(_fit(wave, target_n, normalize))
        elif spread:
            # Decode the whole span at a rate that yields ~target_n samples, then call
            # it 16 kHz: the waveform plays faster, like the frames.
            rate = max(1, int(round(AUDIO_SAMPLE_RATE * target_s / window.duration_s)))
            wave = decode_audio(path, window.start_s, window.duration_s, sample_rate=rate, stream=stream).numpy()
            audio = torch.from_numpy(_fit(wave, target_n, normalize))
        else:
            audio = decode_audio(
                path, window.start_s, window.duration_s, sample_rate=AUDIO_SAMPLE_RATE, normalize=normalize,
                stream=stream,
            )
    except NoAudioStream as exc:
        return None, AudioStatus.NO_STREAM, str(exc)
    except MediaError as exc:
        return None, AudioStatus.FAILED, str(exc)
    return audio, AudioStatus.OK, None


def _fit(wave: np.ndarray, target_n: int, normalize: bool) -> np.ndarray:
    """Trim or zero-pad ``[C, n]`` to ``target_n`` samples, then peak-normalise if asked."""
    wave = wave[:, :target_n]
    if wave.shape[1] < target_n:
        wave = np.pad(wave, ((0, 0), (0, target_n - wave.shape[1])))
    if normalize:
        wave = peak_normalize(wave)
    return np.ascontiguousarray(wave, dtype=np.float32)

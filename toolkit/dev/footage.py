"""Long test footage with a known script: two voices taking turns, shot cuts, pauses and a
music-like tone bed, made with espeak-ng and written by PyAV (h264 + AAC).

    python -m toolkit.dev.footage OUT.mp4 [--repeat N] [--shots N]

The script (:data:`SCRIPT`) says, per shot, its colour and what is heard when: lines of the
character (voice "A"), lines of another person (voice "B"), and where a tone bed plays
(alone, or loud under the character's voice). :func:`build_footage` returns the timeline it
laid, so tests can check a preparation against the truth: where each line starts and ends,
who says it, and where the cuts are.

espeak-ng's Klatt voices are used because a speech recogniser trained on people (pocketsphinx's
en-us model) understands them far better than espeak's default formant voices (measured:
"one two three four five six seven eight nine ten" came back as "well we glorify him to say
okay i am" from the default voice, as "two three four five six seven eight nine ten" from
klatt4).
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from toolkit.errors import MediaError
from toolkit.media.mp4_writer import write_mp4

FPS = 24
SAMPLE_RATE = 48000
SIZE = (96, 160)  # height, width: small, so encoding and decoding stay quick

#: The two speakers: espeak-ng voice, words per minute, pitch (0-99).
VOICES = {"A": ("en-us+klatt4", 140, 40), "B": ("en-gb-x-rp+f3", 165, 75)}


@dataclass(frozen=True)
class Line:
    voice: str  # "A" (the character) or "B" (someone else)
    text: str
    at_s: float  # start, seconds into its shot; negative: that many seconds after the line before ends


@dataclass(frozen=True)
class Shot:
    colour: tuple[int, int, int]
    duration_s: float
    lines: tuple[Line, ...] = ()
    music: str = "none"  # "none" | "alone" (a bed, no speech) | "under" (loud under the voice)


#: One pass of the script (52 s). Lines are a few seconds long with pauses of 0.8 s or more
#: between them, so windows of ~3 s fit between pauses; the last shot has the two voices
#: within one such window, then a quiet pause long enough for a window without speech.
SCRIPT: tuple[Shot, ...] = (
    Shot((200, 60, 50), 12.0, (
        Line("A", "good morning everyone", 0.6),
        Line("A", "today we talk about the weather", 3.4),
        Line("B", "thank you very much for having me here", 7.4),
    )),
    Shot((50, 90, 210), 11.0, (
        Line("A", "one two three four five six seven", 0.7),
        Line("B", "the river was cold and the water was deep", 4.2),
        Line("A", "we will be right back after this", 8.0),
    )),
    Shot((60, 170, 80), 9.0, music="alone"),
    Shot((220, 200, 60), 12.0, (
        Line("A", "the weather is nice today", 0.8),
        Line("A", "please come back tomorrow morning", 4.6),
        Line("A", "thank you and good night", 8.4),
    ), music="under"),
    Shot((150, 150, 160), 8.0, (
        Line("A", "hello there my friend", 0.5),
        Line("B", "hi how are you doing", -0.45),
    )),
)


@dataclass
class LaidLine:
    voice: str
    text: str
    start_s: float
    end_s: float  # where the voice's sound ends (espeak's trailing silence trimmed)


@dataclass
class Footage:
    path: Path
    duration_s: float
    cuts_s: list[float] = field(default_factory=list)  # shot boundaries inside the footage
    lines: list[LaidLine] = field(default_factory=list)
    music_spans: list[tuple[float, float, str]] = field(default_factory=list)


def espeak(text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    """``text`` spoken by espeak-ng: float32 mono at SAMPLE_RATE, leading and trailing
    silence removed."""
    if shutil.which("espeak-ng") is None:
        raise MediaError("espeak-ng", "espeak-ng is not on PATH: install it (apt-get install espeak-ng)")
    cmd = ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", text]
    proc = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise MediaError("espeak-ng", f"failed on {text!r}: {proc.stderr.decode(errors='replace').strip()}")
    with wave.open(io.BytesIO(proc.stdout)) as wav:
        rate_in = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), np.int16).astype(np.float32) / 32768
    wave_48k = _resample(data, rate_in)
    loud = np.flatnonzero(np.abs(wave_48k) > 0.01)
    return wave_48k[loud[0]:loud[-1] + 1] if loud.size else wave_48k


def _resample(mono: np.ndarray, rate: int) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    frame = av.AudioFrame.from_ndarray(mono[None, :], format="flt", layout="mono")
    frame.sample_rate, frame.pts = rate, 0
    out = [o.to_ndarray().reshape(-1) for o in resampler.resample(frame)]
    out += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32)


def tone_bed(seconds: float, level: float) -> np.ndarray:
    """A music-like bed: chords of three sines changing every half second, each note with
    an attack and decay, at peak ``level``."""
    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    roots = (220.0, 246.9, 196.0, 261.6)  # A, B, G, C
    out = np.zeros(n, np.float32)
    note = int(0.5 * SAMPLE_RATE)
    for start in range(0, n, note):
        stop = min(n, start + note)
        root = roots[(start // note) % len(roots)]
        seg = t[start:stop]
        env = np.minimum(1.0, (seg - seg[0]) / 0.02) * np.exp(-(seg - seg[0]) * 2.0)
        chord = sum(np.sin(2 * np.pi * root * r * seg) for r in (1.0, 1.25, 1.5)) / 3
        out[start:stop] = (chord * env).astype(np.float32)
    return out * np.float32(level / max(float(np.abs(out).max()), 1e-9))


def _frames(shot_index: int, shot: Shot, rng: np.random.Generator) -> np.ndarray:
    """The shot's frames: its colour with a soft gradient and a square moving across (motion
    inside a shot that a cut detector must not take for a cut)."""
    count = int(round(shot.duration_s * FPS))
    h, w = SIZE
    shade = np.linspace(-30, 30, w)[None, :, None] * rng.choice((-1, 1))
    still = np.clip(np.array(shot.colour, np.float64)[None, None, :] + shade, 0, 255).astype(np.uint8)
    frames = np.repeat(np.broadcast_to(still, (h, w, 3))[None], count, axis=0)
    side = 24
    for i in range(count):
        x = int((w - side) * i / max(1, count - 1))
        y = (h - side) // 2 + int(10 * np.sin(i / 6 + shot_index))
        frames[i, y:y + side, x:x + side] = (240, 240, 240)
    return frames


def build_footage(out: Path, repeat: int = 1, script: tuple[Shot, ...] = SCRIPT) -> Footage:
    """Write the script (``repeat`` times over) to ``out``; return its timeline."""
    out = Path(out)
    rng = np.random.default_rng(0)
    spoken: dict[tuple[str, str], np.ndarray] = {}
    shots = list(script) * repeat
    total_s = sum(s.duration_s for s in shots)
    audio = np.zeros(int(round(total_s * SAMPLE_RATE)), np.float32)
    frames, footage, at = [], Footage(out, total_s), 0.0
    for index, shot in enumerate(shots):
        if index:
            footage.cuts_s.append(at)
        frames.append(_frames(index, shot, rng))
        lo = int(round(at * SAMPLE_RATE))
        if shot.music != "none":
            level = 0.12 if shot.music == "alone" else 0.35
            bed = tone_bed(shot.duration_s, level)
            audio[lo:lo + bed.size] += bed[: audio.size - lo]
            footage.music_spans.append((at, at + shot.duration_s, shot.music))
        previous_end = 0.0
        for line in shot.lines:
            key = (line.voice, line.text)
            if key not in spoken:
                voice, rate, pitch = VOICES[line.voice]
                spoken[key] = espeak(line.text, voice, rate, pitch) * np.float32(0.5)
            speech = spoken[key]
            offset = line.at_s if line.at_s >= 0 else previous_end - line.at_s
            start = lo + int(round(offset * SAMPLE_RATE))
            audio[start:start + speech.size] += speech
            previous_end = offset + speech.size / SAMPLE_RATE
            footage.lines.append(LaidLine(line.voice, line.text, at + offset, at + previous_end))
            if previous_end > shot.duration_s - 0.3:
                raise ValueError(f"the line {line.text!r} does not end 0.3 s before its shot does")
        at += shot.duration_s
    # Room tone (-50 dBFS RMS): real pauses are never digital silence, and a clip whose audio
    # is all zeros is a "silent track" to the dataset check.
    audio += rng.normal(0.0, 0.00316, audio.size).astype(np.float32)
    video = np.concatenate(frames)
    write_mp4(out, video, FPS, np.stack([audio, audio]), SAMPLE_RATE)
    return footage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--repeat", type=int, default=1, help="how many times the script is played")
    parser.add_argument("--shots", type=int, default=len(SCRIPT),
                        help="play only the script's first N shots (2: the two voices taking turns, 23 s, no tone "
                             "bed: the web UI's end-to-end test)")
    args = parser.parse_args(argv)
    if not 1 <= args.shots <= len(SCRIPT):
        parser.error(f"--shots must be 1 to {len(SCRIPT)}")
    footage = build_footage(args.out, args.repeat, SCRIPT[:args.shots])
    print(f"wrote {footage.path}: {footage.duration_s:.1f} s, {len(footage.cuts_s)} cuts, "
          f"{len(footage.lines)} lines")


if __name__ == "__main__":
    main()

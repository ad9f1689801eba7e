"""Throughput of `python -m toolkit.prepare` on CPU, and the shot detector against PySceneDetect.

Footage: toolkit/dev/footage.py's script played ``--repeat`` times (52 s each: two espeak-ng
voices, four cuts, a tone bed, pauses; 160x96 at 24 fps). Timed in this process, one torch
thread (as the command runs):

1. shot cuts: our detector (PyAV frames) and, when ``--scenedetect-path`` names a folder
   where scenedetect and opencv-python-headless are installed, PySceneDetect's
   ContentDetector on its PyAV backend; cuts found vs the script's;
2. a whole preparation with pocketsphinx transcripts, then the same without transcripts
   (``--asr-model none``, a fresh OUT), then the second run over the first OUT (nothing to do).

Prints minutes of footage per minute of CPU time and of wall time.

    .venv/bin/python bench/prepare_throughput.py [--repeat 3] [--scenedetect-path DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import av.logging  # noqa: E402
import torch  # noqa: E402

import toolkit  # noqa: E402,F401
from toolkit.dev.footage import build_footage  # noqa: E402
from toolkit.prepare.__main__ import main as prepare_main  # noqa: E402
from toolkit.prepare.shots import detect_shots  # noqa: E402


def timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def scenedetect_cuts(path: Path) -> list[float]:
    from scenedetect import ContentDetector, SceneManager, open_video

    video = open_video(str(path), backend="pyav")
    manager = SceneManager()
    manager.add_detector(ContentDetector())
    manager.detect_scenes(video)
    return [start.get_seconds() for start, _ in manager.get_scene_list()[1:]]


def matched(found: list[float], truth: list[float], fps: float = 24.0) -> str:
    hits = sum(any(abs(f - t) <= 1 / fps + 1e-6 for f in found) for t in truth)
    return f"{hits}/{len(truth)} cuts within a frame, {len(found) - hits} extra"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenedetect-path", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        footage = build_footage(tmp / "episode.mp4", repeat=args.repeat)
        minutes = footage.duration_s / 60
        print(f"footage: {footage.duration_s:.0f} s ({minutes:.2f} min), {len(footage.cuts_s)} cuts")

        scan, cpu, wall = timed(lambda: detect_shots(footage.path))
        print(f"shots, ours (PyAV thumbnails): {matched(scan.cuts_s, footage.cuts_s)}; {cpu:.2f} s CPU, "
              f"{wall:.2f} s wall, {minutes / (cpu / 60):.0f} min of footage per CPU minute")
        if args.scenedetect_path:
            sys.path.insert(0, str(args.scenedetect_path))
            cuts, cpu_sd, wall_sd = timed(lambda: scenedetect_cuts(footage.path))
            av.logging.set_level(None)  # scenedetect turns FFmpeg's log on (x264's statistics)
            print(f"shots, PySceneDetect ContentDetector (PyAV backend): {matched(cuts, footage.cuts_s)}; "
                  f"{cpu_sd:.2f} s CPU, {wall_sd:.2f} s wall; ours/theirs CPU time {cpu / cpu_sd:.2f}")

        common = ["--trigger", "ANNA", "--num-frames", "73", "--fps", "24", "--no-progress"]
        for label, out, extra in (("with pocketsphinx transcripts", tmp / "out", []),
                                  ("without transcripts", tmp / "out_none", ["--asr-model", "none"]),
                                  ("second run (nothing to do)", tmp / "out", [])):
            code, cpu, wall = timed(lambda o=out, e=extra: prepare_main([str(footage.path), str(o), *common, *e]))
            assert code == 0
            print(f"prepare, {label}: {cpu:.1f} s CPU, {wall:.1f} s wall: {minutes / (cpu / 60):.1f} min of footage "
                  f"per CPU minute, {minutes / (wall / 60):.1f} per wall minute")


if __name__ == "__main__":
    main()

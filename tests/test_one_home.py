"""Things written once: a second copy would drift (the issue that moved them here found six
dtype tables and two wordings of one warning)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("toolkit", "jobs", "extensions_built_in", "bench", "patches") for p in
           (REPO / folder).rglob("*.py")] + [REPO / "run.py"]


def _files_matching(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return sorted(str(p.relative_to(REPO)) for p in SOURCES if regex.search(p.read_text(encoding="utf-8")))


def test_the_dtype_name_table_is_in_one_module():
    assert _files_matching(r"""["']bf16["']\s*:\s*torch\.bfloat16""") == ["toolkit/memory/dtypes.py"]


def test_the_spread_audio_warning_is_worded_once():
    assert _files_matching(r"shrink_video_to_frames spreads") == ["toolkit/dataset/frames.py"]


def test_the_run_and_check_give_the_same_spread_warning():
    from toolkit.dataset.check import DatasetCheck
    from toolkit.dataset.frames import spread_audio_warning

    check = DatasetCheck(folder=Path("clips"), num_frames=33, fps=24.0, do_audio=True, spread=True,
                         auto_frames=False, resolutions=[64], copies=1, flips=1, seed=0, max_windows=8,
                         window_variants=1, audio_normalize=False, preserve_pitch=False)
    assert "  warning: " + spread_audio_warning(33, False) in check.lines()

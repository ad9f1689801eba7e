"""A run's start says what matters: third-party lines known to carry nothing for a user
(toolkit/__init__.py lists them) do not reach the console, and a real warning still does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import logging, sys
sys.path.insert(0, "tests")
import toolkit
from dataset_helpers import load_tiny
model = load_tiny(sys.argv[1])
model.transformer.to(__import__("torch").float32)  # a cast diffusers comments on
import torchao, optimum.quanto  # what the quantization paths import
logging.getLogger("diffusers.models.modeling_utils").warning("a real diffusers warning")
"""


def test_known_noise_is_dropped_and_real_warnings_are_kept(tiny_model_dir):
    result = subprocess.run([sys.executable, "-c", PROBE, str(tiny_model_dir)], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    from toolkit import _KnownNoise

    for line in _KnownNoise.LINES:
        assert line not in result.stderr, result.stderr
    assert "a real diffusers warning" in result.stderr

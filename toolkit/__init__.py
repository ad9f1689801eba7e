"""The trainer's library: everything that is not one model adapter or the UI."""

import os

# torchao probes optional CUDA kernels at import time and prints a failure per file on a
# CPU-only torch; those kernels are never used here, so skip the probe (documented knob).
os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

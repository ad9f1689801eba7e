"""`python -m toolkit.preview_cache CFG [--out DIR] [--limit N]`: hear and see what the model learns.

Decodes every cached latent of the config's datasets (video VAE + audio VAE + vocoder) back
to an mp4 with sound. The work loads the model's decoders, so it lives with the run's jobs
(jobs/process/cache_preview.py); this is only the command's name.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from jobs.process.cache_preview import main  # noqa: PLC0415 (the command: a run-level job that loads the model's decoders)

    sys.exit(main())

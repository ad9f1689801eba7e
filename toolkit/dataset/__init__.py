"""From a dataset folder to cached items: discovery, captions, windows, audio coverage, the cache's checks and `--check`."""

"""Developer tools: media and data made for tests and benchmarks, never used by a training run."""

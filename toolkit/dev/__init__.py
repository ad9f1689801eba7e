"""Developer tools: media and data made for tests and benchmarks, and the setup's requirements check; never used by a training run."""

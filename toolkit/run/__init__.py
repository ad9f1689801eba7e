"""One run's life: the checks before it starts, its folder and lock, output and status, checkpoints, samples, signals and requests."""

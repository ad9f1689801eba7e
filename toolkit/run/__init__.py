"""The run's folder, output, signals and requests: what a run shows and what it is asked to do while it trains."""

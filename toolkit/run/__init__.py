"""The run folder, its output files and signals: what one training run writes and answers to."""

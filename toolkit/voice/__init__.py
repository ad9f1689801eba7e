"""The voice: speech detection, speaker embeddings and their comparisons, reference voices."""

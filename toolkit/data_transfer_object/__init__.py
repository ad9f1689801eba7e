"""What travels from the data side to the loss: encoded items and batches of them (ai-toolkit's folder name, kept)."""

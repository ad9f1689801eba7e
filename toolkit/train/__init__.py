"""Parts of the training step around the loss: which item is noised and scored how, optimizer groups, the audio quota, validation and the best checkpoints."""

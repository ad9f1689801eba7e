"""From cached items to the optimizer step: batches and prompts, timesteps, item modes, the audio balance and quota, strict audio, optimizers, validation and the best checkpoints."""

"""Training on several processes (accelerate launch, torchrun): ranks, collectives, who writes, and DDP or FSDP2 around the transformer."""

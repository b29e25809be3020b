"""The training loop: trainer, checkpoints, torchrun processes, losses, validation and snapshots."""

"""Training, evaluation and export of GANSynthesis models (run from the repository root)."""

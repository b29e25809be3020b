"""Model bundles written by training: weights, manifest and model card."""

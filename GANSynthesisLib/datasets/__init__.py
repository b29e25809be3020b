"""Synthetic training datasets: generated cases in nnU-Net's layout, the copy check, review and blinded reading."""

"""Image metrics (SynthRAD2023) and the comparison of a synthetic volume with a real reference."""

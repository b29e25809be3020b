"""CycleGAN: unpaired image → CT translation."""

"""Training data: phantoms, files, slice and tile banks, augmentation, low-dose and whole-body data."""

"""Running a network over a volume: slice batches on a device, intensity ranges, input checks."""

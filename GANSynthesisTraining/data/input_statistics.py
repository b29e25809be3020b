"""What a model's manifest records of its training inputs, so that unfamiliar inputs draw a warning."""

from __future__ import annotations

import numpy as np

from GANSynthesisLib.engine.input_checks import (axial_voxel_size, histogram_distance, intensity_histogram,
                                                 normalised_input)
from GANSynthesisLib.models.manifest import InputStatistics, Normalisation


def input_statistics(volumes: list, normalisation: Normalisation, data: str) -> InputStatistics:
    """Mean foreground histogram of the training inputs, the distance beyond which inputs look unfamiliar, and
    their median voxel size (axial view)."""
    histograms = [intensity_histogram(normalised_input(v.array, normalisation)) for v in volumes]
    mean = np.mean(histograms, axis=0)
    spread = max(histogram_distance(h, mean) for h in histograms)
    sizes = [axial_voxel_size(v) for v in volumes]
    voxel_size = {axis: round(float(np.median([s[axis] for s in sizes])), 3) for axis in sizes[0]}
    return InputStatistics(tuple(round(float(v), 6) for v in mean), round(max(0.1, 1.5 * spread), 3), voxel_size, data)

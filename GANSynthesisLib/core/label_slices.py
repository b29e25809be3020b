"""Which slice of a label map to show: the one where the most structures meet."""

from __future__ import annotations

import numpy as np


def richest_slice(labels: np.ndarray, axis: int = 0) -> int:
    """Index along ``axis`` of the slice holding the most distinct label values, then the most labelled voxels."""
    slices = np.moveaxis(np.asarray(labels), axis, 0)
    return max(range(slices.shape[0]), key=lambda k: (len(np.unique(slices[k])), int(np.count_nonzero(slices[k]))))

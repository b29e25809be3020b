"""Connected regions of a mask."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def largest_region(mask: np.ndarray) -> np.ndarray:
    """The largest connected region of ``mask`` (all False when it has none)."""
    labelled, count = ndimage.label(mask)
    if count == 0:
        return np.zeros_like(mask, bool)
    sizes = ndimage.sum_labels(mask, labelled, index=np.arange(1, count + 1))
    return labelled == (1 + int(np.argmax(sizes)))

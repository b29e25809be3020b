"""The values in a label map: which occur, renumbered, as integers, with a clear error for what is no label map."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ...core.errors import GANSynthesisError
from ...core.slabs import map_slabs
from ...core.volume import Volume


def present_values(array: np.ndarray) -> list[int]:
    """The distinct values of an integer array; marked slab by slab on all cores when they are small and
    non-negative."""
    if array.dtype in (np.uint8, np.uint16):
        size = np.iinfo(array.dtype).max + 1
    else:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= 1 << 20:
            return np.unique(array).tolist()
        size = high + 1

    def seen_in(slab: np.ndarray) -> np.ndarray:
        seen = np.zeros(size, bool)
        seen[slab] = True
        return seen

    return np.nonzero(np.logical_or.reduce(map_slabs(seen_in, array)))[0].tolist()


def remap_labels(array: np.ndarray, mapping: Mapping[int, int]) -> np.ndarray:
    """A copy of ``array`` with each ``mapping`` key's voxels set to its value; others unchanged."""
    if array.dtype == np.uint16 and all(0 <= target <= 0xFFFF for target in mapping.values()):
        table = np.arange(1 << 16, dtype=np.uint16)
        for source, target in mapping.items():
            if 0 <= source <= 0xFFFF:
                table[source] = target
        return table[array]
    remapped = array.astype(np.int64)
    for source, target in mapping.items():
        remapped[array == source] = target
    return remapped


def integer_labels(labelmap: Volume) -> tuple[np.ndarray, list[int]]:
    """The label array as integers (uint16 where the values fit) and its non-zero values; a clear error when the
    input is no label map or holds no label."""
    array = labelmap.array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.bool_)):
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise GANSynthesisError(
                "The input holds non-integer values, so it is not a label map; synthesize needs a label map "
                "(segmentation) with integer label values."
            )
    if array.dtype != np.uint16:
        array = array.astype(np.uint16 if array.min() >= 0 and array.max() <= 0xFFFF else np.int64)
    present = [v for v in present_values(array) if v != 0]
    if not present:
        raise GANSynthesisError("The label map is empty (all voxels are 0); it needs at least one labelled structure.")
    return array, present

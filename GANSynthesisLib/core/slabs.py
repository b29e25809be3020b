"""Volume-wide numpy work split into slabs along the first axis and run on all cores (numpy releases the GIL)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

import numpy as np

Item = TypeVar("Item")
Result = TypeVar("Result")
SLAB_VOXELS = 1 << 20  # a few MB per slab: small enough to spread over the cores, large enough to amortise a call


def _slabs(array: np.ndarray) -> list[slice]:
    rows = max(1, SLAB_VOXELS // max(1, array[0].size))
    return [slice(start, start + rows) for start in range(0, len(array), rows)]


def _on_all_cores(function: Callable[[Item], Result], items: list[Item]) -> list[Result]:
    if len(items) == 1:
        return [function(items[0])]
    with ThreadPoolExecutor(min(len(items), os.cpu_count() or 1)) as pool:
        return list(pool.map(function, items))


def map_slabs(function: Callable[[np.ndarray], Result], array: np.ndarray) -> list[Result]:
    """``function`` applied to consecutive slabs of ``array`` (views along axis 0), in order."""
    return _on_all_cores(lambda rows: function(array[rows]), _slabs(array))


def copy_in_slabs(destination: np.ndarray, source: np.ndarray) -> None:
    """``destination[...] = source`` (same shape), slab by slab: first touches of fresh memory run in parallel too."""
    def copy(rows: slice) -> None:
        destination[rows] = source[rows]

    _on_all_cores(copy, _slabs(source))

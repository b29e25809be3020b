"""Views of a volume's array in the nearest axial (LPS) orientation, and the way back.

Models work on axial slices with rows running anterior→posterior and columns right→left. A volume
stored in any other (even oblique) orientation is permuted and flipped, never resampled, so that its
array axes run, as closely as possible, superior (k), posterior (j) and left (i).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .volume import Volume


@dataclass(frozen=True)
class AxialView:
    """How to turn an array into its axial view (transpose then flip) and back."""

    axes: tuple[int, int, int]
    flips: tuple[int, ...]
    spacing_kji: tuple[float, float, float]

    def forward(self, array: np.ndarray) -> np.ndarray:
        """The array seen in axial orientation (a view, not a copy)."""
        view = np.transpose(array, self.axes)
        return np.flip(view, self.flips) if self.flips else view

    def backward(self, array: np.ndarray) -> np.ndarray:
        """An array in axial orientation put back in the original orientation."""
        if self.flips:
            array = np.flip(array, self.flips)
        return np.transpose(array, np.argsort(self.axes))


def axial_view(volume: Volume) -> AxialView:
    """The permutation and flips that bring a volume's array nearest to (S, P, L) axes."""
    weights = np.abs(volume.direction)  # [world axis, index axis]
    world_of_index = [-1, -1, -1]
    for flat in np.argsort(-weights, axis=None):  # greedy: strongest alignments first
        world, index = np.unravel_index(flat, weights.shape)
        if world_of_index[index] == -1 and world not in world_of_index:
            world_of_index[index] = int(world)
    index_of_world = {w: n for n, w in enumerate(world_of_index)}
    # Array axis a holds index axis 2 - a; the view's array axes hold world axes z, y, x.
    axes = tuple(2 - index_of_world[world] for world in (2, 1, 0))
    flips = tuple(a for a, world in enumerate((2, 1, 0)) if volume.direction[world, index_of_world[world]] < 0)
    spacing_kji = tuple(volume.spacing[index_of_world[world]] for world in (2, 1, 0))
    return AxialView(axes=axes, flips=flips, spacing_kji=spacing_kji)

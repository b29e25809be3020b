"""The slice a figure shows: where the most structures meet."""

import numpy as np

from GANSynthesisLib.core.label_slices import richest_slice


def test_the_slice_with_most_structures_wins_over_the_one_with_most_voxels():
    labels = np.zeros((4, 6, 6), np.uint16)
    labels[1] = 7  # the most labelled voxels, one structure
    labels[2, :2, :2], labels[2, 4:, 4:] = 3, 5  # two structures, fewer voxels
    labels[3, :1, :1] = 3
    assert richest_slice(labels) == 2
    assert richest_slice(labels, axis=1) == 0  # rows 0–1 hold 0, 7 and 3 (and row 0 the most voxels of them)

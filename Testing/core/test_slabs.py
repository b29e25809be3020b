"""Slab helpers: every row covered, in order."""

import numpy as np

from GANSynthesisLib.core import slabs


def test_slab_helpers_cover_every_row_in_order(monkeypatch):
    monkeypatch.setattr(slabs, "SLAB_VOXELS", 100)  # 3 rows of 6×7 per slab: many slabs, a short last one
    source = np.arange(11 * 6 * 7, dtype=np.float32).reshape(11, 6, 7)
    assert np.array_equal(np.concatenate(slabs.map_slabs(lambda slab: slab[:, 0, 0], source)), source[:, 0, 0])
    destination = np.zeros_like(source)
    slabs.copy_in_slabs(destination, source)
    assert np.array_equal(destination, source)

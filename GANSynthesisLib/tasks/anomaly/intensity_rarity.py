"""How rare each intensity is in the bodies of normal volumes: the intensity-threshold baseline, and the
intensity half of an anomaly model's evidence."""

from __future__ import annotations

import numpy as np

RARITY_BINS = 128  # over the normalised range [-1, 1]
RARITY_FLOOR = 1e-6  # the share an intensity never seen in normal anatomy counts as (rarity 1)


def fit_intensity_rarity(normalised_bodies: list[np.ndarray]) -> np.ndarray:
    """Rarity per intensity bin: −log of the bin's share of the given normalised body voxels, scaled so an unseen
    intensity scores 1 and none scores below 0."""
    counts = np.zeros(RARITY_BINS)
    for voxels in normalised_bodies:
        counts += np.histogram(voxels, RARITY_BINS, (-1.0, 1.0))[0]
    if counts.sum() == 0:
        raise ValueError("no body voxels to learn normal intensities from")
    return -np.log(counts / counts.sum() + RARITY_FLOOR) / -np.log(RARITY_FLOOR)


def intensity_rarity(normalised: np.ndarray, rarity: np.ndarray | list[float]) -> np.ndarray:
    """Each voxel's rarity (float32, 0…1) from its normalised intensity and a table from
    :func:`fit_intensity_rarity`."""
    table = np.asarray(rarity, np.float32)
    index = np.clip(((normalised + 1) / 2 * len(table)).astype(int), 0, len(table) - 1)
    return table[index]

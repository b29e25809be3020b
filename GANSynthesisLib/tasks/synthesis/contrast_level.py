"""The contrast phase of a synthetic CT: the blood in the arteries and heart chambers brought to a chosen HU level
after synthesis (levels: :mod:`.contrast_phases`). The network draws shape, edges and texture; the level says which
phase the scan shows, which a label map cannot say (an aorta is the same label with or without contrast)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy import ndimage

from ...anatomy.wholebody_classes import CLASS_INDEX, class_of_name
from ...core.volume import Volume
from .contrast_phases import CONTRAST_CLASSES

EDGE_SIGMA_MM = 0.75  # how far the level fades out past a structure's edge (partial volume)


def class_masks(classes: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of the contrast-filled classes in a whole-body class map."""
    return {name: classes == CLASS_INDEX[name] for name in CONTRAST_CLASSES}


def label_masks(labels: np.ndarray, model_labels: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Masks of the contrast-filled classes in a label map in a model's label values (e.g. MM-WHS: the chambers are
    blood pool, the aorta and pulmonary artery arteries)."""
    values = {name: [value for label, value in model_labels.items() if class_of_name(label) == name]
              for name in CONTRAST_CLASSES}
    return {name: np.isin(labels, found) for name, found in values.items() if found}


def soft_weight(mask: np.ndarray, spacing_kji: tuple[float, float, float]) -> tuple[tuple[slice, ...], np.ndarray]:
    """1 inside ``mask``, fading to 0 over about :data:`EDGE_SIGMA_MM` outside it; returned on the mask's bounding
    box (grown by the fade), with that box."""
    sigma = [EDGE_SIGMA_MM / s for s in spacing_kji]
    margin = [int(np.ceil(3 * s)) for s in sigma]
    found = [np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))[0] for axis in range(3)]
    box = tuple(slice(max(0, f[0] - m), min(n, f[-1] + 1 + m)) for f, m, n in zip(found, margin, mask.shape))
    inside = mask[box]
    return box, np.maximum(inside, ndimage.gaussian_filter(inside.astype(np.float32), sigma))


def set_blood_level(ct: Volume, masks: Mapping[str, np.ndarray], level: float) -> tuple[Volume, dict[str, float]]:
    """The CT with each contrast-filled class's mean brought to ``level`` HU (its texture and edges kept; one class's
    fade stops at another's voxels), and the mean HU the model had drawn there (per class present)."""
    out = ct.array.astype(np.float32, copy=True)
    drawn: dict[str, float] = {}
    for name, mask in masks.items():
        if not mask.any():
            continue
        drawn[name] = float(out[mask].mean())
        box, weight = soft_weight(mask, ct.spacing[::-1])
        for other, other_mask in masks.items():
            if other != name:
                weight[other_mask[box]] = 0.0
        out[box] += weight * np.float32(level - drawn[name])
    return ct.with_array(out), drawn

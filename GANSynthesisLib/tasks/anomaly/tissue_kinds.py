"""Each voxel judged against normal tissue of its own kind: the lung region (the air-filled lungs with what lies in
and against them: vessels, airways, nodules, masses) and the rest of the body.

A bundle's ``anomaly.tissue_kinds`` holds how the lung region is found (``lung_region``: air level, smallest lung,
closing radius) and, per kind, the intensity rarity table of its normal voxels and the surprise tables of its
normal voxels' context heat and smoothed intensity rarity (``kinds``), with the ``intensity_floor``. A voxel's
surprise S is its context surprise plus the intensity surprise beyond the floor, each read in its own kind's
tables: dense tissue in the lung region is rare there, though common in the body.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ...core.orientation import axial_view
from ...core.volume import Volume
from .intensity_rarity import intensity_rarity
from .surprise import joint_surprise

LUNG, BODY = "lung", "body"
KINDS = (LUNG, BODY)
COARSE_MM = 3.0  # the lung region is found on a grid about this coarse in-plane


def lung_region(hu: np.ndarray, body: np.ndarray, volume: Volume, settings: dict) -> np.ndarray:
    """Boolean mask (the volume's array order): air below ``air_hu`` inside the body in connected regions of at
    least ``min_lung_ml``, closed in 3-D with a ball of ``closing_mm`` (so a mass against the chest wall, which
    the lung surrounds on the other sides, joins it) and filled slice by slice."""
    view = axial_view(volume)
    spacing = view.spacing_kji
    air = view.forward((hu < float(settings["air_hu"])) & body)
    labels, count = ndimage.label(air)
    if count == 0:
        return np.zeros_like(body)
    millilitres = ndimage.sum(air, labels, range(1, count + 1)) * float(np.prod(spacing)) / 1000.0
    lungs = np.isin(labels, 1 + np.flatnonzero(millilitres >= float(settings["min_lung_ml"])))
    step = max(1, int(round(COARSE_MM / min(spacing[1], spacing[2]))))
    coarse = lungs[:, ::step, ::step]
    sampling = (spacing[0], spacing[1] * step, spacing[2] * step)
    radius = float(settings["closing_mm"])
    pad = [int(np.ceil(radius / s)) + 1 for s in sampling]
    inner = tuple(slice(p, -p) for p in pad)
    # closing with a ball: dilate (within the radius of the lungs), then erode (beyond the radius of what is outside)
    dilated = ndimage.distance_transform_edt(~np.pad(coarse, [(p, p) for p in pad]), sampling=sampling) <= radius
    closed = (ndimage.distance_transform_edt(dilated, sampling=sampling) > radius)[inner]
    closed = np.stack([ndimage.binary_fill_holes(s) for s in closed])
    fine = np.repeat(np.repeat(closed, step, 1), step, 2)[:, :lungs.shape[1], :lungs.shape[2]]
    region = np.ascontiguousarray(view.backward(fine | lungs))
    return region & body


def kind_masks(hu: np.ndarray, body: np.ndarray, volume: Volume, settings: dict) -> dict[str, np.ndarray]:
    """The body split into its kinds: {"lung": lung region, "body": the rest of the body}."""
    lung = lung_region(hu, body, volume, settings["lung_region"])
    return {LUNG: lung, BODY: body & ~lung}


def smoothed_rarity(normalised: np.ndarray, volume: Volume, masks: dict[str, np.ndarray], tables: dict,
                    smoothing_mm: float) -> np.ndarray:
    """Each voxel's intensity rarity in normal tissue of its kind (the kind's table), smoothed with
    ``smoothing_mm`` like the heat."""
    rarity = np.zeros(normalised.shape, np.float32)
    for kind, mask in masks.items():
        rarity[mask] = intensity_rarity(normalised[mask], tables[kind]["intensity_rarity"])
    sigma = [smoothing_mm / s for s in volume.spacing[::-1]]
    return ndimage.gaussian_filter(rarity, sigma) if smoothing_mm > 0 else rarity


def kind_surprise(context_heat: np.ndarray, rarity: np.ndarray, masks: dict[str, np.ndarray],
                  settings: dict) -> np.ndarray:
    """S per voxel: :func:`.surprise.joint_surprise` in the tables of the voxel's kind, with the settings'
    ``intensity_floor`` (0 outside the body)."""
    floor = {"intensity_floor": settings.get("intensity_floor", 0.0)}
    joint = np.zeros(context_heat.shape, np.float32)
    for kind, mask in masks.items():
        joint[mask] = joint_surprise(context_heat[mask], rarity[mask], settings["kinds"][kind] | floor)
    return joint

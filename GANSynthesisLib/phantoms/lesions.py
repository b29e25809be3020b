"""Lesion phantoms: the thorax phantom (CT or MR-like) with inserted lesions and their mask.

Each lesion is a blob (a perturbed ellipsoid, 5–20 mm radius) placed mostly inside one host tissue.
Its intensity is either *in range* — the intensity of another normal tissue of the same phantom
(a soft-tissue nodule in the lung, a fat-like or blood-like spot in the liver, …), so an intensity
threshold cannot tell it from normal anatomy — or *out of range*, an intensity no normal tissue has
(calcification-dense or gas-mixed in CT, brighter than fat in T1). The mask holds 1 for in-range and
2 for out-of-range lesion voxels. Lesions are drawn from their own random stream, so a seed gives the
same anatomy with or without them, and the same lesions in CT and MR.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from scipy import ndimage

from ..core.volume import Volume
from .modalities import render_mr
from .thorax import Phantom, Tissue, generate_phantom, smooth_field

MODALITIES = ("ct", "mr")


class LesionKind(IntEnum):
    """Mask values of lesion voxels."""

    IN_RANGE = 1
    OUT_OF_RANGE = 2


# Host tissue → tissues whose intensity an in-range lesion there takes (nodule, fatty or vascular spot, cyst…).
IN_RANGE_MIMICS = {
    Tissue.LUNG: (Tissue.SOFT_TISSUE, Tissue.MUSCLE, Tissue.MYOCARDIUM),
    Tissue.SOFT_TISSUE: (Tissue.FAT, Tissue.BLOOD_LEFT, Tissue.LUNG),
    Tissue.MUSCLE: (Tissue.FAT, Tissue.BLOOD_LEFT),
    Tissue.MYOCARDIUM: (Tissue.FAT,),
    Tissue.FAT: (Tissue.MUSCLE,),
}
HOST_WEIGHTS = {Tissue.LUNG: 0.35, Tissue.SOFT_TISSUE: 0.3, Tissue.MUSCLE: 0.15, Tissue.MYOCARDIUM: 0.1,
                Tissue.FAT: 0.1}
OUT_OF_RANGE_CT_HU = ((1400.0, 1800.0), (-550.0, -350.0))  # calcified; gas-mixed (between lung and fat)
OUT_OF_RANGE_MR_FAT_RATIO = (1.7, 2.2)  # T1-bright beyond fat (e.g. methaemoglobin)
IN_RANGE_SHARE = 0.6


@dataclass(frozen=True)
class Lesion:
    """One inserted lesion: where, how big, in which tissue, and what intensity it takes."""

    centre_xyz_mm: tuple[float, float, float]
    radius_mm: float
    host: Tissue
    kind: LesionKind
    mimic: Tissue | None  # in range: the tissue whose intensity it takes
    ct_hu: float  # out of range: its CT value
    mr_fat_ratio: float  # out of range: its T1 signal relative to fat


@dataclass(frozen=True)
class LesionCase:
    """A lesion phantom in one modality: image, lesion mask (0 normal, 1 in range, 2 out of range), body mask."""

    image: Volume
    mask: Volume
    body: Volume
    lesions: tuple[Lesion, ...]
    seed: int
    modality: str


def _coordinates(volume: Volume) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable LPS coordinates z (k,1,1), y (1,j,1), x (1,1,i) of the phantom grid (centred)."""
    depth, rows, cols = volume.array.shape
    sx, sy, sz = volume.spacing
    return ((np.arange(depth, dtype=np.float32) * sz + volume.origin[2])[:, None, None],
            (np.arange(rows, dtype=np.float32) * sy + volume.origin[1])[None, :, None],
            (np.arange(cols, dtype=np.float32) * sx + volume.origin[0])[None, None, :])


def _blob(phantom: Phantom, centre: np.ndarray, semi_axes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A perturbed ellipsoid around ``centre`` (x, y, z mm), on the phantom's fine grid."""
    z, y, x = _coordinates(phantom.fine_tissues)
    radius = ((x - centre[0]) / semi_axes[0]) ** 2 + ((y - centre[1]) / semi_axes[1]) ** 2 \
        + ((z - centre[2]) / semi_axes[2]) ** 2
    near = radius < 2.5
    blob = np.zeros(radius.shape, bool)
    if near.any():
        box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(near))
        spacing_kji = phantom.fine_tissues.spacing[::-1]
        wobble = smooth_field(blob[box].shape, spacing_kji, float(semi_axes.mean()), rng)
        blob[box] = np.sqrt(radius[box]) + 0.25 * wobble <= 1.0
    return blob


def _draw_lesion(phantom: Phantom, taken: np.ndarray, rng: np.random.Generator) -> tuple[Lesion, np.ndarray] | None:
    """One lesion mostly inside its host tissue and clear of earlier ones (on the fine grid), or None if none fits."""
    tissues = phantom.fine_tissues.array
    samples_per_voxel = phantom.supersample ** 3
    hosts = [h for h in HOST_WEIGHTS if (tissues == h).sum() > 50 * samples_per_voxel]
    weights = np.array([HOST_WEIGHTS[h] for h in hosts])
    host = hosts[rng.choice(len(hosts), p=weights / weights.sum())]
    candidates = np.argwhere(tissues == host)
    z, y, x = _coordinates(phantom.fine_tissues)
    for _ in range(20):
        k, j, i = candidates[rng.integers(len(candidates))]
        centre = np.array([x[0, 0, i], y[0, j, 0], z[k, 0, 0]])
        radius = float(np.exp(rng.uniform(np.log(5.0), np.log(20.0))))
        blob = _blob(phantom, centre, radius * rng.uniform(0.7, 1.3, 3), rng) & (phantom.fine_body.array > 0)
        if blob.sum() < 4 * samples_per_voxel or (blob & taken).any() or (tissues[blob] == host).mean() < 0.6:
            continue
        in_range = rng.uniform() < IN_RANGE_SHARE
        mimics = IN_RANGE_MIMICS[host]
        mimic = mimics[rng.integers(len(mimics))] if in_range else None
        low, high = OUT_OF_RANGE_CT_HU[rng.integers(len(OUT_OF_RANGE_CT_HU))]
        lesion = Lesion(tuple(float(c) for c in centre), radius, host,
                        LesionKind.IN_RANGE if in_range else LesionKind.OUT_OF_RANGE, mimic,
                        float(rng.uniform(low, high)), float(rng.uniform(*OUT_OF_RANGE_MR_FAT_RATIO)))
        return lesion, blob
    return None


def draw_lesions(phantom: Phantom, count: int | None = None) -> list[tuple[Lesion, np.ndarray]]:
    """Lesions for a phantom (2–4 unless ``count`` is given), each with its mask on the phantom's fine grid; seeded
    by the phantom."""
    rng = np.random.default_rng([phantom.seed, 4])
    count = int(rng.integers(2, 5)) if count is None else count
    taken = np.zeros(phantom.fine_tissues.array.shape, bool)
    drawn = []
    for _ in range(count):
        lesion = _draw_lesion(phantom, taken, rng)
        if lesion is not None:
            taken |= lesion[1]
            drawn.append(lesion)
    return drawn


def lesion_mask(drawn: list[tuple[Lesion, np.ndarray]], phantom: Phantom) -> Volume:
    """uint8 mask on the phantom's grid: 0 normal, then each lesion's :class:`LesionKind` value (at voxel centres)."""
    mask = np.zeros(phantom.fine_tissues.array.shape, np.uint8)
    for lesion, blob in drawn:
        mask[blob] = lesion.kind
    return phantom.tissues.with_array(phantom.centre_samples(mask))


def _tissue_median(image: np.ndarray, tissues: np.ndarray, tissue: Tissue) -> float:
    values = image[tissues == tissue]
    return float(np.median(values)) if values.size else 0.0


def insert_lesions(image: Volume, phantom: Phantom, drawn: list[tuple[Lesion, np.ndarray]], modality: str) -> Volume:
    """``image`` (the phantom in ``modality``) with every lesion's intensity painted in, keeping its noise.

    CT: the lesion's local mean becomes its target HU (plus texture). MR: the local signal is scaled by
    target/host signal, so the bias field carries over. A voxel partly inside a lesion changes by that part.
    """
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; use one of {MODALITIES}")
    array = image.array.astype(np.float32)
    tissues = phantom.tissues.array
    spacing_kji = image.spacing[::-1]
    rng = np.random.default_rng([phantom.seed, 5])
    local_mean = ndimage.gaussian_filter(array, [3.0 / s for s in spacing_kji])
    change = np.zeros_like(array)
    fat = _tissue_median(array, tissues, Tissue.FAT)
    for lesion, blob in drawn:
        inside = phantom.block_means(blob)
        mimic = None if lesion.mimic is None else _tissue_median(array, tissues, lesion.mimic)
        if modality == "ct":
            target = lesion.ct_hu if mimic is None else mimic
            texture = 12.0 * smooth_field(array.shape, spacing_kji, 6.0, rng)
            change += inside * (target + texture - local_mean)
        else:
            target = lesion.mr_fat_ratio * fat if mimic is None else mimic
            change += inside * np.float32(target / max(_tissue_median(array, tissues, lesion.host), 1e-3) - 1.0)
    change = ndimage.gaussian_filter(change, [0.9 / s for s in spacing_kji])
    if modality == "ct":
        return image.with_array(np.clip(array + change, -1024, 3071).astype(np.float32))
    return image.with_array(np.maximum(array * (1.0 + change), 0).astype(np.float32))


def normal_image(phantom: Phantom, modality: str) -> Volume:
    """The lesion-free phantom in ``modality`` ('ct' or 'mr')."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; use one of {MODALITIES}")
    return phantom.ct if modality == "ct" else render_mr(phantom)


def lesions_in(phantom: Phantom, modalities: tuple[str, ...], count: int | None = None) -> dict[str, LesionCase]:
    """``phantom`` in each of ``modalities`` with the same lesions inserted, and their mask."""
    drawn = draw_lesions(phantom, count)
    mask, lesions = lesion_mask(drawn, phantom), tuple(lesion for lesion, _ in drawn)
    return {modality: LesionCase(insert_lesions(normal_image(phantom, modality), phantom, drawn, modality), mask,
                                 phantom.body, lesions, phantom.seed, modality) for modality in modalities}


def lesion_cases(seed: int, modalities: tuple[str, ...], size: tuple[int, int, int] = (128, 128, 48),
                 spacing: tuple[float, float, float] = (3.0, 3.0, 3.0), count: int | None = None,
                 supersample: int = 1) -> dict[str, LesionCase]:
    """The phantom of ``seed`` in each of ``modalities`` with the same lesions inserted, and their mask
    (``supersample``: see :func:`~GANSynthesisLib.phantoms.thorax.generate_phantom`)."""
    return lesions_in(generate_phantom(seed, size, spacing, supersample), modalities, count)


def lesion_case(seed: int, modality: str = "ct", size: tuple[int, int, int] = (128, 128, 48),
                spacing: tuple[float, float, float] = (3.0, 3.0, 3.0), count: int | None = None,
                supersample: int = 1) -> LesionCase:
    """The phantom of ``seed`` in ``modality`` with its lesions inserted, and their mask (see :func:`lesion_cases`)."""
    return lesion_cases(seed, (modality,), size, spacing, count, supersample)[modality]

"""New label maps from one: a smooth random deformation, a scaling, a structure grown or shrunk, a lesion moved or
added. Each variation is drawn from a seeded generator and described in plain numbers, so a case can be made again."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..core.errors import GANSynthesisError
from ..core.volume import Volume

SLAB = 16  # slices resampled at a time (bounds memory on large label maps)


@dataclass(frozen=True)
class VariationSettings:
    """How strongly label maps are varied (0 turns a kind of variation off)."""

    deformation_mm: float = 6.0  # largest displacement of the smooth random deformation
    deformation_scale_mm: float = 40.0  # distance over which the displacement changes (its smoothness)
    scaling: float = 0.08  # zoom drawn within 1 ± scaling per axis, about the labelled region's centre
    structure_change_mm: float = 3.0  # one structure grows or shrinks by up to this
    lesion_label: int | None = None  # a lesion's label value: moved where present, added where absent and host given
    lesion_host: int | None = None  # the label a new lesion is placed in
    lesion_radius_mm: tuple[float, float] = (5.0, 15.0)


@dataclass(frozen=True)
class Variation:
    """One drawn variation, in numbers that describe it (written to the case manifest)."""

    scale: tuple[float, float, float]  # per axis (i, j, k)
    deformation_mm: float
    structure: int | None
    structure_change_mm: float  # > 0 grown, < 0 shrunk
    lesion: str  # "none", "moved by (x, y, z) mm", "added at (i, j, k), radius r mm"

    def to_dict(self) -> dict:
        return asdict(self)


def _smooth_displacement(shape: tuple[int, int, int], spacing_kji: np.ndarray, settings: VariationSettings,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A coarse (3, …) displacement field in voxels along (k, j, i), and the coarse grid step in voxels."""
    step_mm = settings.deformation_scale_mm / 4
    step = np.maximum(step_mm / spacing_kji, 1.0)
    coarse_shape = tuple(int(np.ceil(n / s)) + 2 for n, s in zip(shape, step))
    field = rng.standard_normal((3, *coarse_shape))
    field = np.stack([ndimage.gaussian_filter(f, 1.5, mode="nearest") for f in field])
    largest = np.abs(field).max() or 1.0
    field *= settings.deformation_mm / largest
    return field / spacing_kji[:, None, None, None], step


def _resample(labels: np.ndarray, scale_kji: np.ndarray, centre_kji: np.ndarray, field: np.ndarray | None,
              step: np.ndarray) -> np.ndarray:
    """``labels`` pulled through the scaling about ``centre_kji`` and the displacement ``field`` (nearest label)."""
    out = np.empty_like(labels)
    _, height, width = labels.shape
    jj, ii = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    for start in range(0, labels.shape[0], SLAB):
        kk = np.arange(start, min(start + SLAB, labels.shape[0]))[:, None, None]
        grid = np.broadcast_arrays(kk, jj[None], ii[None])
        source = [centre_kji[a] + (grid[a] - centre_kji[a]) / scale_kji[a] for a in range(3)]
        if field is not None:
            coarse = [g / s for g, s in zip(grid, step)]
            source = [source[a] + ndimage.map_coordinates(field[a], coarse, order=1, mode="nearest")
                      for a in range(3)]
        out[start:start + len(kk)] = ndimage.map_coordinates(labels, source, order=0, mode="constant", cval=0)
    return out


def _change_structure(labels: np.ndarray, value: int, change_mm: float, spacing_kji: np.ndarray) -> np.ndarray:
    """``value`` grown into its surroundings by ``change_mm``, or (negative) shrunk, its rim taken by the nearest
    other label."""
    structure = labels == value
    if change_mm > 0:
        distance = ndimage.distance_transform_edt(~structure, sampling=spacing_kji)
        return np.where(distance <= change_mm, labels.dtype.type(value), labels)
    depth = ndimage.distance_transform_edt(structure, sampling=spacing_kji)
    rim = structure & (depth <= -change_mm)
    _, nearest = ndimage.distance_transform_edt(structure, sampling=spacing_kji, return_indices=True)
    changed = labels.copy()
    changed[rim] = labels[tuple(index[rim] for index in nearest)]
    return changed


def _ball(shape: tuple[int, ...], centre: np.ndarray, radius_mm: float, spacing_kji: np.ndarray) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing_kji)) <= radius_mm ** 2


def _vary_lesion(labels: np.ndarray, settings: VariationSettings, spacing_kji: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The lesion moved within the label around it where present; else added inside the host label if given."""
    lesion_value = labels.dtype.type(settings.lesion_label)
    lesion = labels == lesion_value
    if lesion.any():
        shell = ndimage.binary_dilation(lesion) & ~lesion
        around = np.bincount(labels[shell].astype(np.int64)).argmax() if shell.any() else 0
        allowed = (labels == around) | lesion
        for _ in range(20):
            shift_mm = rng.uniform(-15, 15, 3)
            shift = np.round(shift_mm / spacing_kji).astype(int)
            moved = ndimage.shift(lesion, shift, order=0, mode="constant", cval=False)
            if moved.sum() == lesion.sum() and allowed[moved].all():
                varied = np.where(lesion, labels.dtype.type(around), labels)
                varied[moved] = lesion_value
                k, j, i = (shift * spacing_kji).round(1)
                return varied, f"moved by ({i:g}, {j:g}, {k:g}) mm"
        return labels, "kept in place (no room to move it within the surrounding label)"
    if settings.lesion_host is None:
        return labels, "none"
    radius = rng.uniform(*settings.lesion_radius_mm)
    host = labels == labels.dtype.type(settings.lesion_host)
    inside = ndimage.distance_transform_edt(host, sampling=spacing_kji) > radius
    candidates = np.argwhere(inside)
    if len(candidates) == 0:
        return labels, f"none (label {settings.lesion_host} has no room for a {radius:.0f} mm lesion)"
    centre = candidates[rng.integers(len(candidates))]
    varied = labels.copy()
    varied[_ball(labels.shape, centre, radius, spacing_kji)] = lesion_value
    k, j, i = centre
    return varied, f"added at voxel ({i}, {j}, {k}), radius {radius:.1f} mm"


def vary_label_map(labelmap: Volume, settings: VariationSettings, rng: np.random.Generator) -> tuple[Volume, Variation]:
    """A new label map on the same grid: ``labelmap`` scaled and deformed smoothly, one structure grown or shrunk,
    and the lesion moved or added as ``settings`` say."""
    labels = labelmap.array
    if not np.issubdtype(labels.dtype, np.integer):
        raise GANSynthesisError("Label maps to vary must hold integer label values; this one holds "
                                f"{labels.dtype} values. Export the segmentation as a label map.")
    present = np.unique(labels)
    present = present[present != 0]
    if len(present) == 0:
        raise GANSynthesisError("The label map is empty (all voxels are 0); there is nothing to vary.")
    spacing_kji = np.asarray(labelmap.spacing[::-1], float)
    scale_ijk = 1 + rng.uniform(-settings.scaling, settings.scaling, 3)
    if labels.shape[0] == 1:
        scale_ijk[2] = 1.0
    centre = ndimage.center_of_mass(labels != 0)
    field, step = (_smooth_displacement(labels.shape, spacing_kji, settings, rng) if settings.deformation_mm > 0
                   else (None, np.ones(3)))
    varied = _resample(labels, scale_ijk[::-1], np.asarray(centre), field, step)
    structure, change = None, 0.0
    candidates = [v for v in present if v != settings.lesion_label and (varied == v).any()]
    if settings.structure_change_mm > 0 and candidates:
        structure = int(rng.choice(candidates))
        change = float(rng.uniform(1.0, settings.structure_change_mm) * rng.choice([-1, 1]))
        varied = _change_structure(varied, structure, change, spacing_kji)
    lesion = "none"
    if settings.lesion_label is not None:
        varied, lesion = _vary_lesion(varied, settings, spacing_kji, rng)
    variation = Variation(tuple(round(float(s), 4) for s in scale_ijk), settings.deformation_mm, structure,
                          round(change, 2), lesion)
    return labelmap.with_array(varied), variation

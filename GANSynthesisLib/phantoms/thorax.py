"""Procedural thorax phantoms: CT-like HU volume, MM-WHS cardiac label map, body mask, tissue map.

Every phantom is drawn from a seed, so the same seed gives the same anatomy at any size and spacing. With
``supersample`` n (odd) the anatomy is drawn on a grid n times finer along each axis and every voxel's intensity is
the mean over its n³ samples (partial volume: lung edges, vessels and bone rims get in-between values, as in real
scans), while its label and body values are those of its centre sample, i.e. the same as with ``supersample`` 1
(the tissue map's too, but for layers drawn a whole voxel thick: bone cortex and pericardial fat get thinner).
World coordinates are LPS millimetres centred on the volume: x to the patient's left, y to the
back, z to the head. Anatomy (randomised by the seed): an elliptic body with subcutaneous fat and a
muscle wall; ribs, sternum and vertebrae with cortex and marrow; lungs above a domed diaphragm with
vessel texture; liver below the diaphragm; descending aorta (unlabelled, as in MM-WHS); and a heart
with the seven MM-WHS structures on a tilted long axis, contrast-enhanced blood pool, myocardial wall
around the left ventricle, and the ascending aorta and pulmonary artery as tubes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from scipy import ndimage

from ..anatomy.mmwhs_structures import MMWHS_LABELS
from ..core.volume import Volume

SUPERSAMPLE_CHOICES = (1, 3, 5)  # samples per voxel edge offered on the command lines (5: 125× the memory)


class Tissue(IntEnum):
    """Tissue classes of the phantom; other modalities are rendered from this map."""

    AIR = 0
    FAT = 1
    MUSCLE = 2
    LUNG = 3
    CORTICAL_BONE = 4
    MARROW = 5
    BLOOD_LEFT = 6
    BLOOD_RIGHT = 7
    MYOCARDIUM = 8
    SOFT_TISSUE = 9
    LUNG_VESSEL = 10


@dataclass(frozen=True)
class Phantom:
    """One generated case: CT (HU, float32), labels (MM-WHS values), body mask and tissue map, and the tissue map
    and body mask on the ``supersample`` times finer grid the intensities are averaged from (the same volumes when
    ``supersample`` is 1)."""

    ct: Volume
    labels: Volume
    body: Volume
    tissues: Volume
    seed: int
    fine_tissues: Volume
    fine_body: Volume
    supersample: int = 1

    def centre_samples(self, fine: np.ndarray) -> np.ndarray:
        """The value at each voxel's centre of an array on the fine grid."""
        return centre_samples(fine, self.supersample)

    def block_means(self, fine: np.ndarray) -> np.ndarray:
        """Each voxel's mean over its samples of an array on the fine grid (float32)."""
        return block_means(fine, self.supersample)


def centre_samples(fine: np.ndarray, factor: int) -> np.ndarray:
    """Every ``factor``-th sample along each axis, starting at the centre of the first block (``factor`` odd)."""
    centre = factor // 2
    return fine[centre::factor, centre::factor, centre::factor]


def block_means(fine: np.ndarray, factor: int) -> np.ndarray:
    """The mean of each ``factor``³ block (float32)."""
    if factor == 1:
        return fine.astype(np.float32, copy=False)
    k, j, i = (n // factor for n in fine.shape)
    blocks = fine.astype(np.float32, copy=False).reshape(k, factor, j, factor, i, factor)
    return blocks.mean(axis=(1, 3, 5), dtype=np.float64).astype(np.float32)


def _grid(size: tuple[int, int, int], spacing: tuple[float, float, float]):
    """Broadcastable LPS coordinate arrays z (k,1,1), y (1,j,1), x (1,1,i) centred on the volume."""
    axes = [(np.arange(n, dtype=np.float32) - (n - 1) / 2) * s for n, s in zip(size, spacing)]
    x, y, z = axes
    return z[:, None, None], y[None, :, None], x[None, None, :]


def smooth_field(shape: tuple[int, int, int], spacing_kji: tuple[float, float, float], scale_mm: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance random field smooth over about ``scale_mm`` (coarse noise, upsampled)."""
    coarse_step = scale_mm / 2.0
    coarse_shape = [max(2, int(np.ceil(n * s / coarse_step)) + 2) for n, s in zip(shape, spacing_kji)]
    coarse = ndimage.gaussian_filter(rng.standard_normal(coarse_shape).astype(np.float32), 1.0)
    coarse = (coarse - coarse.mean()) / (coarse.std() + 1e-6)
    coords = [np.linspace(1, c - 2, n, dtype=np.float32) for n, c in zip(shape, coarse_shape)]
    field = ndimage.map_coordinates(coarse, np.meshgrid(*coords, indexing="ij"), order=1, mode="nearest")
    return field.astype(np.float32)


def _centred_geometry(size: tuple[int, int, int], spacing: tuple[float, float, float]) -> dict:
    """Volume geometry (spacing, origin, direction) of an axis-aligned grid centred on the world origin."""
    origin = tuple(-(n - 1) / 2 * s for n, s in zip(size, spacing))
    return {"spacing": spacing, "origin": origin, "direction": np.eye(3)}


def _ellipsoid(coords, centre, semi_axes) -> np.ndarray:
    return sum(((c - c0) / a) ** 2 for c, c0, a in zip(coords, centre, semi_axes)) <= 1.0


def _segment_distance(z, y, x, p0, p1) -> np.ndarray:
    """Distance (mm) of every grid point to the segment p0→p1, points given as (x, y, z)."""
    p0 = np.asarray(p0, np.float32)
    d = np.asarray(p1, np.float32) - p0
    t = ((x - p0[0]) * d[0] + (y - p0[1]) * d[1] + (z - p0[2]) * d[2]) / float(d @ d)
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt((x - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 + (z - p0[2] - t * d[2]) ** 2)


def _rotation(yaw: float, tilt: float) -> np.ndarray:
    """Columns: heart long axis (base→apex), the LV side, and their cross product, in LPS."""
    long_axis = np.array([np.cos(yaw) * np.cos(tilt), -np.sin(yaw) * np.cos(tilt), -np.sin(tilt)])
    lv_side = np.cross(long_axis, [0.0, 0.0, 1.0])
    lv_side /= np.linalg.norm(lv_side)
    if lv_side[1] < 0:  # point the LV side backwards, as in a real heart
        lv_side = -lv_side
    return np.stack([long_axis, lv_side, np.cross(long_axis, lv_side)], axis=1)


def _heart_labels(z, y, x, rng: np.random.Generator, centre: np.ndarray, shape) -> np.ndarray:
    """MM-WHS label map of the heart and great vessels."""
    rot = _rotation(np.deg2rad(rng.uniform(35, 55)), np.deg2rad(rng.uniform(20, 40)))
    s = rng.uniform(0.95, 1.25)
    rel = (x - centre[0], y - centre[1], z - centre[2])
    u, v, w = (sum(rel[r] * rot[r, c] for r in range(3)) for c in range(3))
    heart = (u, v, w)

    def at(uvw) -> np.ndarray:  # heart-frame point → LPS point (x, y, z)
        return centre + rot @ (np.asarray(uvw, float) * s)

    wall = rng.uniform(8.0, 12.0)
    lv_axes = np.array([38.0, 19.0, 19.0]) * s * rng.uniform(0.9, 1.1, 3)
    lv_centre = np.array([8.0, 12.0, 0.0]) * s
    lv = _ellipsoid(heart, lv_centre, lv_axes)
    myo = _ellipsoid(heart, lv_centre, lv_axes + wall)
    rv = _ellipsoid(heart, np.array([2.0, -16.0, 0.0]) * s, np.array([36.0, 16.0, 27.0]) * s * rng.uniform(0.9, 1.1, 3))
    la = _ellipsoid(heart, np.array([-44.0, 14.0, -4.0]) * s, np.array([20.0, 17.0, 22.0]) * s * rng.uniform(0.85, 1.15, 3))
    ra = _ellipsoid(heart, np.array([-38.0, -20.0, 8.0]) * s, np.array([22.0, 17.0, 21.0]) * s * rng.uniform(0.85, 1.15, 3))

    ao_start = at([-34.0, 2.0, 4.0])
    ao_end = ao_start + np.array([rng.uniform(-12, -2), rng.uniform(-4, 6), rng.uniform(70, 100)])
    aorta = _segment_distance(z, y, x, ao_start, ao_end) <= rng.uniform(12.0, 16.0) * s
    pa_start = at([-18.0, -28.0, -6.0])
    pa_end = pa_start + np.array([rng.uniform(15, 28), rng.uniform(12, 22), rng.uniform(45, 65)])
    pulmonary = _segment_distance(z, y, x, pa_start, pa_end) <= rng.uniform(11.0, 14.0) * s

    labels = np.zeros(shape, np.uint16)
    for name, region in [("ascending aorta", aorta), ("pulmonary artery", pulmonary), ("left ventricle", lv),
                         ("myocardium", myo), ("left atrium", la), ("right atrium", ra), ("right ventricle", rv)]:
        labels[region & (labels == 0)] = MMWHS_LABELS[name]
    return labels


def generate_phantom(seed: int = 0, size: tuple[int, int, int] = (128, 128, 48),
                     spacing: tuple[float, float, float] = (3.0, 3.0, 3.0), supersample: int = 1) -> Phantom:
    """A random thorax phantom of ``size`` voxels (i, j, k) at ``spacing`` mm, deterministic by seed; with
    ``supersample`` n (odd) each voxel's intensity averages n³ samples (partial volume)."""
    if supersample < 1 or supersample % 2 == 0:
        raise ValueError(f"supersample must be an odd number ≥ 1 (each voxel keeps its centre sample's labels), "
                         f"not {supersample}")
    rng = np.random.default_rng(seed)
    coarse_size = tuple(int(n) for n in size)
    coarse_spacing = tuple(float(s) for s in spacing)
    size = tuple(n * supersample for n in coarse_size)
    spacing = tuple(s / supersample for s in coarse_spacing)
    shape = (size[2], size[1], size[0])
    spacing_kji = (spacing[2], spacing[1], spacing[0])
    z, y, x = _grid(size, spacing)

    # Body wall: fat, muscle, thoracic cavity; gently wider towards the abdomen.
    body_a, body_b = rng.uniform(140, 175), rng.uniform(95, 120)
    widen = 1.0 - 0.0008 * z
    body_r = (np.abs(x / (body_a * widen)) ** 2.2 + np.abs((y - 5) / (body_b * widen)) ** 2.2)
    fat_t, muscle_t = rng.uniform(8, 25), rng.uniform(8, 15)
    inner_a, inner_b = body_a - fat_t - muscle_t, body_b - fat_t - muscle_t
    body = body_r <= 1.0
    muscle_outer = (x / ((body_a - fat_t) * widen)) ** 2 + ((y - 5) / ((body_b - fat_t) * widen)) ** 2 <= 1.0
    cavity_r = (x / (inner_a * widen)) ** 2 + ((y - 5) / (inner_b * widen)) ** 2
    cavity = cavity_r <= 1.0

    tissues = np.zeros(shape, np.uint8)
    tissues[body] = Tissue.FAT
    tissues[muscle_outer & body] = Tissue.MUSCLE

    # Diaphragm dome and liver below it.
    dome_z = rng.uniform(-75, -35) + 0.0025 * x**2 + 0.002 * (y - 20) ** 2 - 8 * (x > 0)
    below_diaphragm = z < dome_z
    tissues[cavity & below_diaphragm] = Tissue.SOFT_TISSUE

    # Spine: vertebral bodies with discs, canal with cord, paraspinal muscles.
    spine_y = inner_b * widen - rng.uniform(18, 26)
    vert_r = rng.uniform(15, 19)
    canal_y = spine_y + vert_r + 9
    disc_period, disc_phase = rng.uniform(24, 28), rng.uniform(0, 28)
    disc = np.mod(z + disc_phase, disc_period) < 5.0
    vertebra = (x**2 + (y - spine_y) ** 2) <= vert_r**2
    canal_ring = (x**2 + (y - canal_y) ** 2) <= 13.0**2
    canal = (x**2 + (y - canal_y) ** 2) <= 7.5**2
    paraspinal = ((np.abs(x) - 30) / 22) ** 2 + ((y - canal_y - 8) / 20) ** 2 <= 1.0
    descending_aorta = (x - rng.uniform(18, 28)) ** 2 + (y - (spine_y - vert_r - 4)) ** 2 <= rng.uniform(10, 13) ** 2

    # Heart sits on the diaphragm, left of the midline, towards the front.
    heart_centre = np.array([rng.uniform(8, 28), rng.uniform(-30, -12), rng.uniform(-15, 15)])
    labels = _heart_labels(z, y, x, rng, heart_centre, shape)
    heart = labels > 0
    pericardial_fat = ndimage.binary_dilation(heart, iterations=max(1, int(round(4.0 / spacing[0])))) & ~heart
    mediastinum = ((x - 0.3 * heart_centre[0]) / rng.uniform(18, 26)) ** 2 + ((y + 10) / (inner_b * 1.3)) ** 2 <= 1.0

    lungs = cavity & ~below_diaphragm & ~mediastinum & ~heart & ~pericardial_fat & (np.abs(x) > 12)
    tissues[lungs] = Tissue.LUNG
    tissues[cavity & ~below_diaphragm & ~lungs] = Tissue.SOFT_TISSUE
    tissues[pericardial_fat & cavity] = Tissue.FAT
    vessel_field = smooth_field(shape, spacing_kji, 12.0, rng)
    tissues[lungs & (np.abs(vessel_field) < 0.06)] = Tissue.LUNG_VESSEL
    tissues[paraspinal & body & ~cavity] = Tissue.MUSCLE
    tissues[canal_ring & ~canal & body] = Tissue.CORTICAL_BONE
    tissues[canal & body] = Tissue.SOFT_TISSUE
    tissues[vertebra & ~disc] = Tissue.CORTICAL_BONE
    tissues[((x**2 + (y - spine_y) ** 2) <= (vert_r - 2.5) ** 2) & ~disc] = Tissue.MARROW
    tissues[vertebra & disc] = Tissue.SOFT_TISSUE
    tissues[descending_aorta & ~below_diaphragm] = Tissue.BLOOD_LEFT

    # Ribs in the muscle wall (periodic in z), sternum in front.
    rib_period, rib_phase = rng.uniform(22, 30), rng.uniform(0, 30)
    rib_band = (cavity_r > 1.0) & (cavity_r <= ((inner_a + 9) / inner_a) ** 2) & muscle_outer
    rib_z = np.cos(2 * np.pi * (z + rib_phase - 0.15 * (y - 5)) / rib_period) > 0.55
    ribs = rib_band & rib_z & ~((np.abs(x) < 30) & (y < 0))
    sternum = muscle_outer & (np.abs(x) < 16) & (y < -(inner_b * widen) + 2) & (y > -(inner_b * widen) - 12)
    tissues[ribs | sternum] = Tissue.CORTICAL_BONE
    tissues[ndimage.binary_erosion(ribs | sternum, iterations=supersample)] = Tissue.MARROW

    tissues[labels == MMWHS_LABELS["myocardium"]] = Tissue.MYOCARDIUM
    for name in ("left ventricle", "left atrium", "ascending aorta"):
        tissues[labels == MMWHS_LABELS[name]] = Tissue.BLOOD_LEFT
    for name in ("right ventricle", "right atrium", "pulmonary artery"):
        tissues[labels == MMWHS_LABELS[name]] = Tissue.BLOOD_RIGHT

    ct = render_ct(tissues, spacing_kji, rng, supersample)
    body = body.astype(np.uint8)
    fine, coarse = _centred_geometry(size, spacing), _centred_geometry(coarse_size, coarse_spacing)
    return Phantom(
        ct=Volume(ct, **coarse),
        labels=Volume(centre_samples(labels, supersample), **coarse),
        body=Volume(centre_samples(body, supersample), **coarse),
        tissues=Volume(centre_samples(tissues, supersample), **coarse),
        seed=seed,
        fine_tissues=Volume(tissues, **fine),
        fine_body=Volume(body, **fine),
        supersample=supersample,
    )


def render_ct(tissues: np.ndarray, spacing_kji: tuple[float, float, float], rng: np.random.Generator,
              supersample: int = 1) -> np.ndarray:
    """Contrast-enhanced CT (HU) from a tissue map (with ``spacing_kji``): per-tissue HU, texture, blur, mean over
    each ``supersample``³ block (partial volume), then noise on that coarser grid."""
    left_blood = rng.uniform(280, 420)
    hu = {
        Tissue.AIR: (-1000, 0), Tissue.FAT: (rng.uniform(-115, -85), 12), Tissue.MUSCLE: (rng.uniform(35, 55), 10),
        Tissue.LUNG: (rng.uniform(-880, -820), 35), Tissue.CORTICAL_BONE: (rng.uniform(750, 1000), 90),
        Tissue.MARROW: (rng.uniform(180, 300), 40), Tissue.BLOOD_LEFT: (left_blood, 15),
        Tissue.BLOOD_RIGHT: (left_blood * rng.uniform(0.6, 1.0), 15), Tissue.MYOCARDIUM: (rng.uniform(85, 125), 12),
        Tissue.SOFT_TISSUE: (rng.uniform(45, 65), 10), Tissue.LUNG_VESSEL: (rng.uniform(-150, 0), 40),
    }
    mean = np.zeros(len(Tissue), np.float32)
    texture_amplitude = np.zeros(len(Tissue), np.float32)
    for tissue, (value, amplitude) in hu.items():
        mean[tissue], texture_amplitude[tissue] = value, amplitude
    texture = smooth_field(tissues.shape, spacing_kji, 6.0, rng)
    ct = mean[tissues] + texture_amplitude[tissues] * texture
    blur_sigma = [0.9 / s for s in spacing_kji]
    ct = block_means(ndimage.gaussian_filter(ct, blur_sigma), supersample)
    ct += rng.uniform(8, 22) * rng.standard_normal(ct.shape).astype(np.float32)
    return np.clip(ct, -1024, 3071).astype(np.float32)

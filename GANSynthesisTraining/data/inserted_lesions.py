"""Large lung tumours inserted into held-out real chest CT: the real nodule case is small, and a tumour larger
than the inpainting hole, or grown against the chest wall, is what a phantom-trained model misses.

Each tumour is a lobulated ellipsoid of soft tissue (35 HU, correlated texture of 18 HU std) with a partial-volume
rim, drawn into the air of the lung (bone and denser tissue kept); its mask is where it replaced lung.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from GANSynthesisTraining.data.real_normal_ct import LesionScan, nodule_case

TUMOUR_HU, TEXTURE_HU = 35.0, 18.0
# name → centre (axial slice, row, column of the nodule case's slab), radii (mm: z, rows, columns), seed
TUMOURS = {"left lower lobe, against the posterior chest wall, 44 mm": ((2, 265, 400), (20.0, 22.0, 22.0), 1),
           "left lung, central, 30 mm": ((4, 215, 360), (15.0, 15.0, 15.0), 2),
           "right upper lobe, against the anterior chest wall, 50 mm": ((3, 150, 170), (20.0, 25.0, 25.0), 3)}


def insert_tumour(hu: np.ndarray, spacing_kji: tuple[float, float, float], centre: tuple[int, int, int],
                  radii_mm: tuple[float, float, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The HU array with a tumour drawn in, and the tumour's mask where it replaced lung (HU below −300)."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in hu.shape], indexing="ij")
    scaled = [(g - c) * s / r for g, c, s, r in zip(grids, centre, spacing_kji, radii_mm)]
    distance = np.sqrt(sum(d ** 2 for d in scaled))
    angle = np.arctan2(scaled[1], scaled[2])
    phases = rng.uniform(0, 2 * np.pi, 2)
    lobes = 1 + 0.12 * np.sin(3 * angle + phases[0]) + 0.08 * np.sin(5 * angle + phases[1])
    texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, hu.shape), (0.3, 1.2, 1.2))
    texture *= TEXTURE_HU / texture.std()
    weight = np.clip((lobes - distance) / 0.08, 0.0, 1.0)  # 0 outside, 1 inside, a partial-volume rim between
    drawn = hu * (1 - weight) + (TUMOUR_HU + texture) * weight
    drawn = np.where(hu > TUMOUR_HU + 60, hu, drawn)
    return drawn.astype(np.float32), (weight > 0.5) & (hu < -300)


def tumour_cases() -> list[LesionScan]:
    """The nodule case's slab with each of :data:`TUMOURS` drawn in (the nodule left out of the mask)."""
    case = nodule_case()
    spacing_kji = case.image.spacing[::-1]
    cases = []
    for name, (centre, radii, seed) in TUMOURS.items():
        image, mask = insert_tumour(case.image.array, spacing_kji, centre, radii, seed)
        mask &= case.mask.array == 0
        cases.append(LesionScan(f"inserted tumour: {name}", case.image.with_array(image),
                                case.mask.with_array(mask.astype(np.uint8))))
    return cases


def lesion_scans() -> list[LesionScan]:
    """The real nodule case, then the inserted tumours."""
    return [nodule_case(), *tumour_cases()]

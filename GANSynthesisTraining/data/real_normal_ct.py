"""Real normal CT for the anomaly models: the real scans' slices free of lesions, and the held-out nodule case.

Sources (``../shared/data``, README there; licences beside the files):
- ``pyradiomics_lung1_ct`` (chest CT, pyradiomics 3.1.0 ``data/lung1_image.nrrd``, BSD-3-Clause) with its nodule
  mask ``pyradiomics_lung1_label`` (axial slices 32–34). Slices 27–39 (the nodule and 25 mm either side) are the
  held-out nodule case and never train; slices 0–24 and 42–47 train (a gap of two slices between).
- ``ts_abdomen_ct`` (abdomen/pelvis CT, TotalSegmentator 2.18.0 ``tests/reference_files/example_ct.nii.gz``,
  Apache-2.0): slices 0–89 train; 92–111 are held out as normal tissue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from GANSynthesisLib.core.orientation import axial_view
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.tasks.anomaly.detection import body_mask
from GANSynthesisTraining.data.real_scans import read_real_scan, real_scans_present

LUNG1, LUNG1_MASK, ABDOMEN = "pyradiomics_lung1_ct.nii.gz", "pyradiomics_lung1_label.nii.gz", "ts_abdomen_ct.nii.gz"
TRAINING_SLABS = {LUNG1: [(0, 25), (42, 48)], ABDOMEN: [(0, 90)]}  # [start, stop) in axial order
TRAINING_SLAB_COUNT = sum(len(slabs) for slabs in TRAINING_SLABS.values())
NODULE_CASE_SLAB = (27, 40)
NORMAL_HELD_OUT_SLABS = {ABDOMEN: [(92, 112)]}
DATA_SENTENCE = ("real normal CT: pyradiomics lung1 chest CT slices 0–24 and 42–47 (its nodule slices 32–34 and "
                 "25 mm either side left out) and the TotalSegmentator example abdomen CT slices 0–89")
HELD_OUT_SENTENCE = "the same abdomen CT's slices 92–111, which no bundled model trained on"


def axial_slab(volume: Volume, start: int, stop: int) -> Volume:
    """Axial slices [start, stop) of a volume (inferior to superior order) as a volume of their own."""
    view = axial_view(volume)
    array = np.ascontiguousarray(view.forward(volume.array)[start:stop])
    spacing_kji = view.spacing_kji
    return Volume(array, (spacing_kji[2], spacing_kji[1], spacing_kji[0]))


def _slabs(table: dict[str, list[tuple[int, int]]]) -> list[Volume]:
    volumes = []
    for file, slabs in table.items():
        scan = read_real_scan(file)
        scan = scan.with_array(np.clip(scan.array.astype(np.float32), -1024, 3071))
        volumes += [axial_slab(scan, start, stop) for start, stop in slabs]
    return volumes


def real_normal_training_volumes() -> list[Volume]:
    """The lesion-free training slabs of the real CTs (HU, float32)."""
    return _slabs(TRAINING_SLABS)


def real_normal_held_out_volumes() -> list[Volume]:
    """Real normal CT no anomaly model trains on (HU, float32)."""
    return _slabs(NORMAL_HELD_OUT_SLABS)


@dataclass
class LesionScan:
    """A real scan with its lesion mask on the same grid."""

    name: str
    image: Volume
    mask: Volume


def scan_body(scan: LesionScan) -> np.ndarray:
    """The patient in a lesion scan (CT): the largest region above −500 HU, holes filled slice by slice, as the
    anomaly models find it; metrics are counted over its voxels."""
    return body_mask(np.clip(scan.image.array.astype(np.float32) / 1000.0, -1.0, 1.0), scan.image, -0.5)


def nodule_case() -> LesionScan:
    """The held-out slabs of the chest CT around its nodule, with the nodule mask."""
    scan, mask = read_real_scan(LUNG1), read_real_scan(LUNG1_MASK)
    scan = scan.with_array(np.clip(scan.array.astype(np.float32), -1024, 3071))
    return LesionScan("pyradiomics lung1 (real chest CT, nodule), slices 27–39", axial_slab(scan, *NODULE_CASE_SLAB),
                      axial_slab(mask.with_array((mask.array > 0).astype(np.uint8)), *NODULE_CASE_SLAB))


def real_normal_ct_present() -> bool:
    """Whether the real CTs are there to read."""
    return all(real_scans_present(file) for file in (LUNG1, LUNG1_MASK, ABDOMEN))

"""Whole-body thorax phantoms in the whole-body label set, with CT-like correlated noise.

The anatomy is the project's procedural thorax (:func:`phantom.generate_phantom`: body with fat and muscle layers,
vertebral bodies with canal and discs, ribs, sternum, lungs with vessel texture, liver under a domed diaphragm,
descending aorta, contrast-filled heart with the seven MM-WHS structures). Here it is labelled in the whole-body
classes (:mod:`label_sets`) and rendered again with:

- airways (trachea and main bronchi) cut into the lungs and mediastinum,
- per-phantom contrast timing (left and right blood pool, aorta, myocardium, liver enhancement),
- reconstructed-CT noise: white noise shaped in-plane by a ramp × apodisation filter (the noise power spectrum of
  filtered back-projection, peaked at mid frequencies, so grains are correlated over 1–3 mm), with a per-phantom
  level (8–40 HU) and filter cut-off, slightly correlated between neighbouring slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..anatomy.mmwhs_structures import MMWHS_LABELS
from ..anatomy.wholebody_classes import CLASS_INDEX, MODEL_VALUE_BASE
from ..core.volume import Volume
from .thorax import Tissue, generate_phantom, smooth_field

MODEL_GRID_SIZE = (256, 256, 48)  # voxels (i, j, k): the thorax at a whole-body model's 1.5 mm in-plane grid
MODEL_GRID_SPACING = (1.5, 1.5, 3.0)


@dataclass(frozen=True)
class WholeBodyPhantom:
    """CT (HU, float32), whole-body class map (uint8, label_sets classes) and body mask on one grid."""

    ct: Volume
    classes: Volume
    body: Volume
    seed: int

    @property
    def labels(self) -> Volume:
        """The class map as a label map in a whole-body model's own values (class c is 1000 + c; 0 outside)."""
        classes = self.classes.array.astype(np.uint16)
        return self.classes.with_array(np.where(classes > 0, classes + MODEL_VALUE_BASE, 0).astype(np.uint16))


def ct_noise(shape: tuple[int, int, int], spacing_kji: tuple[float, float, float], rng: np.random.Generator,
             sigma_hu: float, cutoff: float) -> np.ndarray:
    """Noise with a filtered-back-projection-like in-plane power spectrum (ramp × Hann up to ``cutoff`` of Nyquist),
    scaled to ``sigma_hu``; neighbouring slices share a little of it (0.2) as thin reconstructions do."""
    k, j, i = shape
    white = rng.standard_normal(shape).astype(np.float32)
    fy = np.fft.fftfreq(j)[:, None] * 2  # in units of Nyquist
    fx = np.fft.rfftfreq(i)[None, :] * 2
    radius = np.sqrt(fy**2 + fx**2)
    window = np.where(radius < cutoff, 0.5 + 0.5 * np.cos(np.pi * radius / cutoff), 0.0)
    shaped = np.fft.irfft2(np.fft.rfft2(white, axes=(1, 2)) * (radius * window)[None], s=(j, i), axes=(1, 2))
    shaped = shaped + 0.2 * np.roll(shaped, 1, axis=0)
    return (shaped * (sigma_hu / (shaped.std() + 1e-6))).astype(np.float32)


def _airways(shape, spacing_kji, body: np.ndarray, lungs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Trachea down the upper mediastinum and two main bronchi into the lungs (boolean)."""
    z = (np.arange(shape[0]) - (shape[0] - 1) / 2) * spacing_kji[0]
    y = (np.arange(shape[1]) - (shape[1] - 1) / 2) * spacing_kji[1]
    x = (np.arange(shape[2]) - (shape[2] - 1) / 2) * spacing_kji[2]
    zz, yy, xx = z[:, None, None], y[None, :, None], x[None, None, :]
    carina_z = rng.uniform(-5, 25)
    ty = rng.uniform(-10, 10)
    radius = rng.uniform(7, 10)
    trachea = ((xx - rng.uniform(-4, 4)) ** 2 + (yy - ty) ** 2 <= radius**2) & (zz >= carina_z)
    bronchi = np.zeros(shape, bool)
    for side in (-1, 1):
        drop = np.clip(carina_z - zz, 0, 45)
        cx = side * (drop * rng.uniform(0.9, 1.3))
        bronchi |= ((xx - cx) ** 2 + (yy - ty - 0.2 * drop) ** 2 <= (radius * 0.7) ** 2) & (zz < carina_z) & (drop < 45)
    return (trachea | bronchi) & body & ~(lungs & ~bronchi & ~trachea) | ((trachea | bronchi) & lungs)


def wholebody_classes(tissues: np.ndarray, mmwhs: np.ndarray, body: np.ndarray) -> np.ndarray:
    """Class map from the phantom's tissue map and MM-WHS labels."""
    c = np.zeros(tissues.shape, np.uint8)
    c[body > 0] = CLASS_INDEX["body"]
    c[tissues == Tissue.FAT] = CLASS_INDEX["fat"]
    c[(tissues == Tissue.MUSCLE) | (tissues == Tissue.SOFT_TISSUE) | (tissues == Tissue.MYOCARDIUM)] = \
        CLASS_INDEX["soft tissue"]
    c[(tissues == Tissue.LUNG) | (tissues == Tissue.LUNG_VESSEL)] = CLASS_INDEX["lung"]
    bone = (tissues == Tissue.CORTICAL_BONE) | (tissues == Tissue.MARROW)
    c[bone] = CLASS_INDEX["bone"]
    enclosed = np.stack([ndimage.binary_fill_holes(s) for s in bone]) & ~bone
    c[enclosed & (tissues == Tissue.SOFT_TISSUE)] = CLASS_INDEX["spinal canal"]
    blood = (tissues == Tissue.BLOOD_LEFT) | (tissues == Tissue.BLOOD_RIGHT)
    c[blood & (mmwhs == 0)] = CLASS_INDEX["artery"]  # descending aorta
    c[mmwhs == MMWHS_LABELS["myocardium"]] = CLASS_INDEX["myocardium"]
    for name in ("left atrium", "left ventricle", "right atrium", "right ventricle"):
        c[mmwhs == MMWHS_LABELS[name]] = CLASS_INDEX["cardiac blood pool"]
    for name in ("ascending aorta", "pulmonary artery"):
        c[mmwhs == MMWHS_LABELS[name]] = CLASS_INDEX["artery"]
    return c


def generate_wholebody_phantom(seed: int = 0, size: tuple[int, int, int] = (256, 256, 32),
                               spacing: tuple[float, float, float] = (1.5, 1.5, 3.0)) -> WholeBodyPhantom:
    """A thorax phantom of ``size`` voxels (i, j, k) at ``spacing`` mm in the whole-body classes, with CT-like noise."""
    base = generate_phantom(seed, size, spacing)
    rng = np.random.default_rng(10_000 + seed)
    tissues = base.tissues.array
    mmwhs = base.labels.array
    body = base.body.array
    spacing_kji = (spacing[2], spacing[1], spacing[0])
    classes = wholebody_classes(tissues, mmwhs, body)
    lungs = classes == CLASS_INDEX["lung"]
    airway = _airways(tissues.shape, spacing_kji, body > 0, lungs, rng) & (classes != CLASS_INDEX["bone"]) & \
        np.isin(classes, [CLASS_INDEX[n] for n in ("lung", "soft tissue", "fat", "body")])
    classes[airway] = CLASS_INDEX["airway"]
    liver = (tissues == Tissue.SOFT_TISSUE) & (classes == CLASS_INDEX["soft tissue"])
    # the liver is the soft tissue of the cavity under the diaphragm: the big component of soft tissue that touches
    # the lowest slice
    labelled, count = ndimage.label(liver)
    if count:
        sizes = ndimage.sum(liver, labelled, range(1, count + 1))
        touching = set(np.unique(labelled[0])) - {0}
        for index in touching:
            if sizes[index - 1] > 0.02 * liver[0].size:
                classes[labelled == index] = CLASS_INDEX["solid organ"]

    left = rng.uniform(200, 500)
    hu = {
        "body": (rng.uniform(20, 50), 15), "fat": (rng.uniform(-115, -80), 15), "soft tissue": (rng.uniform(35, 60), 12),
        "lung": (rng.uniform(-900, -800), 40), "airway": (rng.uniform(-1000, -960), 10),
        "spinal canal": (rng.uniform(15, 40), 10), "myocardium": (rng.uniform(80, 140), 15),
        "cardiac blood pool": (left, 15), "artery": (left * rng.uniform(0.9, 1.1), 15),
        "solid organ": (rng.uniform(55, 140), 12),
    }
    mean = np.zeros(256, np.float32)
    amplitude = np.zeros(256, np.float32)
    mean[0] = -1000.0
    for name, (value, amp) in hu.items():
        mean[CLASS_INDEX[name]], amplitude[CLASS_INDEX[name]] = value, amp
    texture = smooth_field(tissues.shape, spacing_kji, rng.uniform(3, 8), rng)
    ct = mean[classes] + amplitude[classes] * texture
    # keep the finer tissue detail of the base phantom where classes are coarse: lung vessels, cortex vs marrow,
    # right vs left blood, muscle vs mediastinal soft tissue
    ct[tissues == Tissue.LUNG_VESSEL] = rng.uniform(-200, 50) if rng.random() < 0.5 else left * 0.6
    ct[tissues == Tissue.CORTICAL_BONE] = rng.uniform(700, 1100) + 80 * texture[tissues == Tissue.CORTICAL_BONE]
    ct[tissues == Tissue.MARROW] = rng.uniform(150, 320) + 40 * texture[tissues == Tissue.MARROW]
    right = (tissues == Tissue.BLOOD_RIGHT) & (classes != CLASS_INDEX["spinal canal"])
    ct[right] = left * rng.uniform(0.55, 1.05) + 15 * texture[right]
    ct[classes == CLASS_INDEX["airway"]] = hu["airway"][0]
    ct = ndimage.gaussian_filter(ct, [0.4, 0.7 / spacing[1], 0.7 / spacing[0]])
    ct += ct_noise(ct.shape, spacing_kji, rng, rng.uniform(8, 40), rng.uniform(0.45, 0.9))
    ct = np.clip(ct, -1024, 3071).astype(np.float32)
    geometry = dict(spacing=base.ct.spacing, origin=base.ct.origin, direction=base.ct.direction)
    return WholeBodyPhantom(Volume(ct, **geometry), Volume(classes, **geometry), Volume(body, **geometry), seed)

"""Training and evaluation data for the whole-body (wholebody-v1, 2.5-D) synthesis model.

Sources:
- procedural thorax phantoms in the whole-body classes (:mod:`GANSynthesisLib.phantoms.wholebody`);
- the real CTs in ``../shared/data`` (README there: sources and licences):
  ``ts_abdomen_ct_30`` with TotalSegmentator's labels (TS 2.18.0 test files, Apache-2.0), merged with
  threshold labels for what TS does not label (body, fat, soft tissue); ``ts_abdomen_ct`` (the same CT, 112 slices;
  its top 30 slices are ``ts_abdomen_ct_30``) and ``pyradiomics_lung1_ct`` (pyradiomics 3.1.0, BSD-3-Clause) with
  label maps drawn by thresholds (:func:`threshold_classes`: body, lung, bone, fat, soft tissue, contrast-filled
  vessels).

Held out (never trained on, with a gap of two slices so no 2.5-D neighbour is held-out either):
:data:`REAL_SPLITS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from GANSynthesisLib.anatomy.wholebody_classes import (CLASS_INDEX, NUMBERINGS, flags_of, given_classes, pack_codes,
                                                       to_classes)
from GANSynthesisLib.core.orientation import axial_view
from GANSynthesisLib.core.volume import Volume
from GANSynthesisTraining.data.real_scans import read_real_scan

# case → (file, label file or None, training slices [start, stop), held-out slices [start, stop)); axial order
REAL_SPLITS: dict[str, tuple[str, str | None, tuple[int, int], tuple[int, int] | None]] = {
    "lung1": ("pyradiomics_lung1_ct.nii.gz", None, (14, 48), (0, 12)),
    "abdomen30_ts": ("ts_abdomen_ct_30.nii.gz", "ts_abdomen_ct_30_labels.nii.gz", (0, 18), (20, 30)),
    # the 112-slice CT holds ts_abdomen_ct_30 as its slices 82–111: train below 100 only
    "abdomen112": ("ts_abdomen_ct.nii.gz", None, (0, 98), None),
}
C = CLASS_INDEX


def _per_slice(function, mask: np.ndarray) -> np.ndarray:
    return np.stack([function(s) for s in mask])


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labelled, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = ndimage.sum(mask, labelled, range(1, count + 1))
    return labelled == (1 + int(np.argmax(sizes)))


def threshold_classes(hu: np.ndarray, spacing_kji: tuple[float, float, float]) -> np.ndarray:
    """A class map drawn from a CT by thresholds (axial (k, j, i) array): body (largest component above -400 HU,
    holes filled per slice; the couch falls away with an opening), lung (air inside the body in components over
    100 ml, vessels inside filled in), airway-free gas pockets (hollow organ), bone (components above 200 HU holding
    voxels ≥ 600 HU, marrow filled in), contrast-filled vessels (150–600 HU outside bone), fat (-200…-30 HU), soft
    tissue (the rest of the body)."""
    voxel_ml = float(np.prod(spacing_kji)) / 1000.0
    body = hu > -400
    radius = max(1, int(round(3.0 / spacing_kji[1])))
    body = _per_slice(lambda s: ndimage.binary_opening(s, iterations=radius), body)
    body = _largest_component(body)
    body = _per_slice(ndimage.binary_fill_holes, body)
    classes = np.zeros(hu.shape, np.uint8)
    classes[body] = C["soft tissue"]
    classes[body & (hu > -200) & (hu < -30)] = C["fat"]
    air = body & (hu < -500)
    labelled, count = ndimage.label(air)
    if count:
        sizes = ndimage.sum(air, labelled, range(1, count + 1)) * voxel_ml
        big = np.isin(labelled, 1 + np.nonzero(sizes > 100)[0])
        lung = _per_slice(lambda s: ndimage.binary_fill_holes(ndimage.binary_closing(s, iterations=2)), big) & body
        classes[lung] = C["lung"]
        classes[air & ~lung] = C["hollow organ"]
    else:
        lung = np.zeros_like(body)
    dense = body & (hu > 200)
    labelled, count = ndimage.label(dense)
    bone = np.zeros_like(body)
    if count:
        peak = ndimage.maximum(hu, labelled, range(1, count + 1))
        bone = np.isin(labelled, 1 + np.nonzero(peak >= 600)[0])
        bone = _per_slice(ndimage.binary_fill_holes, bone)
    vessel = body & ~bone & ~lung & (hu >= 150) & (hu < 600)
    vessel = ndimage.binary_opening(vessel, structure=np.ones((1, 2, 2), bool))
    classes[vessel] = C["artery"]
    classes[bone] = C["bone"]
    return classes


@dataclass
class LabelledCT:
    """A CT and its class map in axial orientation ((k, j, i) = superior, posterior, left), with their spacing."""

    name: str
    hu: np.ndarray
    classes: np.ndarray
    spacing_kji: tuple[float, float, float]
    train: tuple[int, int]
    held_out: tuple[int, int] | None
    body: np.ndarray  # real body mask (threshold), for the metrics


def _axial(volume: Volume) -> tuple[np.ndarray, tuple[float, float, float]]:
    view = axial_view(volume)
    return np.ascontiguousarray(view.forward(volume.array)), view.spacing_kji


def load_real(name: str) -> LabelledCT:
    """One of :data:`REAL_SPLITS`, with its class map (TotalSegmentator labels over threshold labels)."""
    file, label_file, train, held_out = REAL_SPLITS[name]
    hu, spacing = _axial(read_real_scan(file))
    hu = np.clip(hu.astype(np.float32), -1024, 3071)
    classes = threshold_classes(hu, spacing)
    body = classes > 0
    if label_file:
        labels, _ = _axial(read_real_scan(label_file))
        ts = to_classes(labels, NUMBERINGS["totalsegmentator-total"])
        classes = np.where(ts > 0, ts, classes).astype(np.uint8)
    # The model's 'artery' class means contrast-filled arteries (the CT angiograms it is made for); in a scan without
    # contrast their voxels are soft tissue as far as the image goes. Veins keep their class (their enhancement
    # depends on the phase; the phantoms have none, so the real scans are where the class is learned).
    inside = classes == C["artery"]
    if inside.any() and float(hu[inside].mean()) < 120:
        classes[inside] = C["soft tissue"]
    return LabelledCT(name, hu, classes, spacing, train, held_out, body)


# --- what users give: variants of a full class map --------------------------------------------------------------

def _replace(classes: np.ndarray, mapping: dict[str, str | None]) -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    for source, target in mapping.items():
        table[C[source]] = 0 if target is None else C[target]
    return table[classes]


VARIANTS: dict[str, dict[str, str | None]] = {
    "full": {},
    # TotalSegmentator 'total' + body: no fat/muscle classes, the heart as one structure
    "totalsegmentator": {"fat": "body", "soft tissue": "body", "myocardium": "heart", "cardiac blood pool": "heart"},
    # the same without a body outline
    "no body": {"fat": None, "soft tissue": None, "body": None, "myocardium": "heart", "cardiac blood pool": "heart"},
    # the acceptance's kind of input: heart, great vessels, lung, bone, body
    "coarse": {"fat": "body", "soft tissue": "body", "myocardium": "heart", "cardiac blood pool": "heart",
               "solid organ": "body", "hollow organ": "body", "vein": "body", "spinal canal": "body"},
    # an MM-WHS-style map: the heart's structures and great vessels, nothing else
    "heart only": {name: None for name in ("body", "fat", "soft tissue", "lung", "airway", "bone", "spinal canal",
                                           "vein", "solid organ", "hollow organ")},
}
CARDIAC_VARIANTS = ("heart only",)  # only for data with cardiac labels (the phantoms)


def variant(classes: np.ndarray, name: str) -> np.ndarray:
    """The class map as a user with the :data:`VARIANTS` entry ``name`` would give it."""
    return _replace(classes, VARIANTS[name])


def packed(classes: np.ndarray) -> np.ndarray:
    """Axial class map → packed 2.5-D codes with its own given flags."""
    return pack_codes(classes, flags_of(given_classes(classes)))


# --- the model grid ---------------------------------------------------------------------------------------------

def to_model_grid(hu: np.ndarray, codes: np.ndarray, spacing_kji: tuple[float, float, float], spacing_mm: float,
                  canvas: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Axial slices resampled in-plane to ``spacing_mm`` (HU: anti-aliased linear; codes: nearest) and centred on a
    canvas × canvas grid (outside: -1024 HU, code 0)."""
    factors = (1.0, spacing_kji[1] / spacing_mm, spacing_kji[2] / spacing_mm)
    if factors[1] < 1 or factors[2] < 1:
        sigma = [0, 0.4 / factors[1] if factors[1] < 1 else 0, 0.4 / factors[2] if factors[2] < 1 else 0]
        hu = ndimage.gaussian_filter(hu, sigma)
    hu = ndimage.zoom(hu, factors, order=1, mode="nearest", grid_mode=True)
    codes = ndimage.zoom(codes, factors, order=0, mode="nearest", grid_mode=True)
    out_hu = np.full((hu.shape[0], canvas, canvas), -1024, np.float32)
    out_codes = np.zeros((hu.shape[0], canvas, canvas), np.int32)
    h, w = hu.shape[1:]
    sh, sw = max(0, (h - canvas) // 2), max(0, (w - canvas) // 2)
    dh, dw = max(0, (canvas - h) // 2), max(0, (canvas - w) // 2)
    hh, ww = min(h, canvas), min(w, canvas)
    out_hu[:, dh:dh + hh, dw:dw + ww] = hu[:, sh:sh + hh, sw:sw + ww]
    out_codes[:, dh:dh + hh, dw:dw + ww] = codes[:, sh:sh + hh, sw:sw + ww]
    return out_hu, out_codes

"""Where training pairs come from: phantoms, MM-WHS, SynthRAD2023, a CSV of pairs, or unpaired folders."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from GANSynthesisLib.errors import GANSynthesisError
from GANSynthesisLib.io import read_volume, volume_from_sitk, volume_to_sitk
from GANSynthesisLib.metrics import body_mask_from_ct
from GANSynthesisLib.modalities import low_dose_ct, render_mr
from GANSynthesisLib.phantom import generate_phantom
from GANSynthesisLib.volume import Volume

PHANTOM_SOURCES = ("labels", "mr", "low-dose-ct")
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


@dataclass(frozen=True)
class PairedCase:
    """One case: a source (label map or image) and its target image (HU) on one grid, and the body mask."""

    case_id: str
    source: Volume
    target: Volume
    body: np.ndarray


def phantom_dose(seed: int) -> float:
    """Photons per ray of a phantom's low-dose scan: log-uniform over 2·10³–2·10⁴, so noise levels vary."""
    return float(np.exp(np.random.default_rng([seed, 3]).uniform(np.log(2e3), np.log(2e4))))


def phantom_cases(seeds: list[int], size=(128, 128, 48), spacing=(3.0, 3.0, 3.0),
                  source: str = "labels") -> list[PairedCase]:
    """Generated thorax phantoms, one per seed: labels, MR or low-dose CT → normal-dose CT."""
    if source not in PHANTOM_SOURCES:
        raise ValueError(f"unknown phantom source {source!r}; use one of {PHANTOM_SOURCES}")
    cases = []
    for seed in seeds:
        phantom = generate_phantom(seed, size, spacing)
        image = {"labels": lambda: phantom.labels, "mr": lambda: render_mr(phantom),
                 "low-dose-ct": lambda: low_dose_ct(phantom.ct, phantom_dose(seed), seed)}[source]()
        cases.append(PairedCase(f"phantom-{seed}", image, phantom.ct, phantom.body.array > 0))
    return cases


def _on_grid(image: Volume, reference: Volume, default: float) -> Volume:
    if image.same_geometry(reference, atol=1e-3):
        return image
    resampled = sitk.Resample(volume_to_sitk(image), volume_to_sitk(reference), sitk.Transform(), sitk.sitkLinear,
                              default)
    return volume_from_sitk(resampled)


def load_pair(source_path: Path, target_path: Path, case_id: str, mask_path: Path | None = None,
              source_is_labels: bool = False) -> PairedCase:
    """Read a source/target pair; the target (and mask) are resampled onto the source grid when they differ."""
    source = read_volume(source_path)
    if not source_is_labels:
        source = source.with_array(source.array.astype(np.float32))
    target = _on_grid(read_volume(target_path), source, -1024.0)
    target = target.with_array(target.array.astype(np.float32))
    if mask_path is not None:
        mask_volume = read_volume(mask_path)
        body = _on_grid(mask_volume.with_array(mask_volume.array.astype(np.float32)), source, 0.0).array > 0.5
    else:
        body = body_mask_from_ct(target.array)
    return PairedCase(case_id, source, target, body)


def mmwhs_cases(folder: str | Path) -> list[PairedCase]:
    """MM-WHS layout: ``*_image.nii.gz`` beside ``*_label.nii.gz``; label map → CT."""
    folder = Path(folder)
    cases = []
    for image in sorted(folder.rglob("*_image.nii*")):
        label = image.with_name(image.name.replace("_image.", "_label."))
        if label.exists():
            cases.append(load_pair(label, image, image.name.split("_image.")[0], source_is_labels=True))
    if not cases:
        raise GANSynthesisError(f"No MM-WHS pairs (*_image.nii.gz with *_label.nii.gz) found under {folder}.")
    return cases


def synthrad_cases(folder: str | Path, source: str = "mr") -> list[PairedCase]:
    """SynthRAD2023 layout: ``Task1|Task2/{brain,pelvis}/<id>/{mr|cbct,ct,mask}.nii.gz``; ``source`` → CT."""
    folder = Path(folder)
    cases = []
    for source_path in sorted(folder.rglob(f"{source}.nii.gz")):
        case = source_path.parent
        if (case / "ct.nii.gz").exists():
            mask = case / "mask.nii.gz"
            cases.append(load_pair(source_path, case / "ct.nii.gz", f"{case.parent.name}-{case.name}",
                                   mask if mask.exists() else None))
    if not cases:
        raise GANSynthesisError(f"No SynthRAD2023 cases (<id>/{source}.nii.gz with ct.nii.gz) found under {folder}.")
    return cases


def csv_cases(csv_path: str | Path, source_column: str, target_column: str,
              source_is_labels: bool = False) -> list[PairedCase]:
    """A CSV with a header naming the source and target columns (optional ``mask`` and ``id``); paths may be
    relative to the CSV's folder."""
    csv_path = Path(csv_path)
    with open(csv_path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows or not {source_column, target_column} <= set(rows[0]):
        raise GANSynthesisError(f"{csv_path} needs a header with columns {source_column!r} and {target_column!r}.")
    base = csv_path.parent
    return [load_pair(base / row[source_column], base / row[target_column],
                      row.get("id") or Path(row[source_column]).name,
                      base / row["mask"] if row.get("mask") else None, source_is_labels) for row in rows]


def folder_volumes(folder: str | Path) -> list[Volume]:
    """Every image file directly in a folder (for unpaired training)."""
    paths = sorted(p for p in Path(folder).iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES))
    if not paths:
        raise GANSynthesisError(f"No images ({', '.join(IMAGE_SUFFIXES)}) in {folder}.")
    return [read_volume(p) for p in paths]

"""Where training pairs come from: generated phantoms, the MM-WHS layout, or a CSV of pairs."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from GANSynthesisLib.errors import GANSynthesisError
from GANSynthesisLib.io import read_volume, volume_from_sitk, volume_to_sitk
from GANSynthesisLib.metrics import body_mask_from_ct
from GANSynthesisLib.phantom import generate_phantom
from GANSynthesisLib.volume import Volume


@dataclass(frozen=True)
class LabelledCase:
    """One training or evaluation case: an image (HU), its label map and body mask on the same grid."""

    case_id: str
    image: Volume
    labels: Volume
    body: np.ndarray


def phantom_cases(seeds: list[int], size=(128, 128, 48), spacing=(3.0, 3.0, 3.0)) -> list[LabelledCase]:
    """Generated thorax phantoms, one per seed."""
    cases = []
    for seed in seeds:
        phantom = generate_phantom(seed, size, spacing)
        cases.append(LabelledCase(f"phantom-{seed}", phantom.ct, phantom.labels, phantom.body.array > 0))
    return cases


def _on_label_grid(image: Volume, labels: Volume) -> Volume:
    if image.same_geometry(labels, atol=1e-3):
        return image
    resampled = sitk.Resample(volume_to_sitk(image), volume_to_sitk(labels), sitk.Transform(), sitk.sitkLinear, -1024.0)
    return volume_from_sitk(resampled)


def load_pair(image_path: Path, label_path: Path, case_id: str) -> LabelledCase:
    """Read an image/label pair; the image is resampled onto the label grid when they differ."""
    labels = read_volume(label_path)
    image = _on_label_grid(read_volume(image_path), labels)
    image = image.with_array(image.array.astype(np.float32))
    return LabelledCase(case_id, image, labels, body_mask_from_ct(image.array))


def mmwhs_cases(folder: str | Path) -> list[LabelledCase]:
    """MM-WHS layout: ``*_image.nii.gz`` beside ``*_label.nii.gz`` (e.g. ct_train_1001_image.nii.gz)."""
    folder = Path(folder)
    images = sorted(folder.rglob("*_image.nii*"))
    cases = []
    for image in images:
        label = image.with_name(image.name.replace("_image.", "_label."))
        if label.exists():
            cases.append(load_pair(image, label, image.name.split("_image.")[0]))
    if not cases:
        raise GANSynthesisError(f"No MM-WHS pairs (*_image.nii.gz with *_label.nii.gz) found under {folder}.")
    return cases


def csv_cases(csv_path: str | Path) -> list[LabelledCase]:
    """A CSV with columns ``image,label`` (paths relative to the CSV's folder allowed)."""
    csv_path = Path(csv_path)
    with open(csv_path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows or not {"image", "label"} <= set(rows[0]):
        raise GANSynthesisError(f"{csv_path} needs a header with columns 'image' and 'label'.")
    base = csv_path.parent
    return [load_pair(base / row["image"], base / row["label"], row.get("id") or Path(row["image"]).name)
            for row in rows]

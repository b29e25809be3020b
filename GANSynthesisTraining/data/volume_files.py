"""Training data from files: MM-WHS, SynthRAD2023, a CSV or a folder of pairs, or folders of unpaired volumes.

The only training module that reads images (SimpleITK); phantom runs never import it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.evaluation.image_metrics import body_mask_from_ct
from GANSynthesisLib.files.image_files import (IMAGE_FILE_SUFFIXES, image_file_suffix, read_volume, volume_from_sitk,
                                               volume_to_sitk)
from GANSynthesisLib.phantoms.lesions import LesionCase, LesionKind

from GANSynthesisTraining.data.paired_cases import PairedCase


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


def _images_by_case(folder: Path) -> dict[str, Path]:
    """The image files directly in ``folder``, keyed by file name without its image suffix."""
    images = {}
    for path in sorted(folder.iterdir()):
        suffix = image_file_suffix(path.name)
        if suffix:
            case = path.name[:-len(suffix)]
            if case in images:
                raise GANSynthesisError(f"{folder} holds two images of case {case!r} ({images[case].name}, "
                                        f"{path.name}); keep one.")
            images[case] = path
    return images


def folder_cases(folder: str | Path, source_folder: str, target_folder: str,
                 source_is_labels: bool = False) -> list[PairedCase]:
    """A folder of pairs: ``<source_folder>/<id>`` and ``<target_folder>/<id>`` image files matched by name (any
    image suffix), with an optional ``mask/<id>``."""
    folder = Path(folder)
    if not (folder / source_folder).is_dir() or not (folder / target_folder).is_dir():
        raise GANSynthesisError(f"{folder} needs subfolders {source_folder}/ and {target_folder}/ holding image files "
                                f"with the same names (and optionally mask/).")
    sources, targets = _images_by_case(folder / source_folder), _images_by_case(folder / target_folder)
    masks = _images_by_case(folder / "mask") if (folder / "mask").is_dir() else {}
    unmatched = sorted(set(sources) ^ set(targets))
    if unmatched:
        raise GANSynthesisError(f"{len(unmatched)} case(s) in {folder} lack a partner in {source_folder}/ or "
                                f"{target_folder}/: {', '.join(unmatched[:5])}; give each the same file name in both.")
    if not sources:
        raise GANSynthesisError(f"No images ({', '.join(IMAGE_FILE_SUFFIXES)}) in {folder / source_folder}.")
    return [load_pair(sources[case], targets[case], case, masks.get(case), source_is_labels) for case in sources]


def folder_volumes(folder: str | Path) -> list[Volume]:
    """Every image file directly in a folder (for unpaired training)."""
    paths = list(_images_by_case(Path(folder)).values())
    if not paths:
        raise GANSynthesisError(f"No images ({', '.join(IMAGE_FILE_SUFFIXES)}) in {folder}.")
    return [read_volume(p) for p in paths]


def lesion_cases_from_csv(path: Path) -> list[LesionCase]:
    """Held-out scans with lesion masks listed in a CSV (paths relative to it); mask values > 0 are lesions."""
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows or not {"image", "mask"} <= set(rows[0]):
        raise GANSynthesisError(f"{path} needs a header with columns 'image' and 'mask'.")
    cases = []
    for index, row in enumerate(rows):
        image, mask = read_volume(path.parent / row["image"]), read_volume(path.parent / row["mask"])
        if not image.same_geometry(mask, atol=1e-3):
            raise GANSynthesisError(f"{row['mask']} is not on the grid of {row['image']}.")
        lesions = mask.with_array((mask.array > 0).astype(np.uint8) * np.uint8(LesionKind.IN_RANGE))
        cases.append(LesionCase(image.with_array(image.array.astype(np.float32)), lesions, None, (),
                                row.get("id") or index, "unknown"))
    return cases

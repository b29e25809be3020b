"""Reading and writing volumes with SimpleITK: NIfTI, NRRD, MetaImage and DICOM series."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import SimpleITK as sitk

from ..core.errors import GANSynthesisError
from ..core.volume import Volume, check_geometry
from .nifti_check import check_nifti_values
from .output_set import OutputSet, check_output_path

IMAGE_FILE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")  # single-file formats, read and written
NIFTI_DESCRIPTION_KEY = "ITK_FileNotes"  # SimpleITK writes this key into the NIfTI 'descrip' field (80 chars)


def volume_from_sitk(image: sitk.Image) -> Volume:
    """A Volume holding a copy of a 3-D (or 2-D, as one slice) scalar SimpleITK image."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise GANSynthesisError(
            f"The image has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour or vector "
            "image); GANSynthesis needs a scalar (grey-level or label) volume."
        )
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    if image.GetDimension() != 3:
        raise GANSynthesisError(
            f"The image is {image.GetDimension()}-D; GANSynthesis needs a 3-D volume. "
            "Split a time series or multi-channel image into 3-D volumes first."
        )
    return Volume(
        array=sitk.GetArrayFromImage(image),
        spacing=image.GetSpacing(),
        origin=image.GetOrigin(),
        direction=np.asarray(image.GetDirection()).reshape(3, 3),
    )


def volume_to_sitk(volume: Volume) -> sitk.Image:
    """A SimpleITK image with the volume's voxels and geometry."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array))
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(tuple(volume.direction.ravel()))
    return image


def _check_image_dimension(path: Path) -> None:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    dimension = reader.GetDimension()
    size = reader.GetSize()
    if dimension > 3 and any(s > 1 for s in size[3:]):
        raise GANSynthesisError(
            f"{path} is a {dimension}-D image of size {size}; GANSynthesis needs a 3-D volume. "
            "Extract one 3-D volume (e.g. one time point) first."
        )


def read_volume(path: str | os.PathLike) -> Volume:
    """Read a volume from an image file or a folder holding one DICOM series; refused when the file ends early or
    holds NaN or infinity."""
    path = Path(path)
    if not path.exists():
        raise GANSynthesisError(f"Input not found: {path}. Check the path and try again.")
    try:
        if path.is_dir():
            volume = volume_from_sitk(_read_dicom_series(path))
        else:
            if image_file_suffix(path.name) in (".nii.gz", ".nii"):
                check_nifti_values(path)
            _check_image_dimension(path)
            image = sitk.ReadImage(str(path))
            if image.GetDimension() == 4:  # a 4-D file with one time point
                image = image[:, :, :, 0]
            volume = volume_from_sitk(image)
    except RuntimeError as error:
        raise GANSynthesisError(f"Could not read {path} as an image: {_reader_problem(error)}") from error
    check_geometry(volume, f"image {path}")
    if np.issubdtype(volume.array.dtype, np.floating) and not np.isfinite(volume.array).all():
        raise GANSynthesisError(f"{path} holds non-finite voxel values (NaN or infinity); fix or mask them first.")
    return volume


_READER_PROBLEMS = {  # what ITK's messages mean for the user
    "determinant is 0": "its direction matrix is singular (determinant 0: two index axes point the same way or one "
                        "is zero), so its voxels have no position in space. Fix the orientation in the header.",
    "bytes but received": "its voxel data ends early (the file is truncated or damaged); copy or export it again.",
    "change spacing": "its voxel spacing is zero or negative; every spacing must be a positive number. Fix the "
                      "spacing in the header.",
}


def _reader_problem(error: RuntimeError) -> str:
    """The useful part of a SimpleITK reader error."""
    text = str(error).strip()
    known = next((meaning for phrase, meaning in _READER_PROBLEMS.items() if phrase in text), None)
    if known:
        return known
    lines = [line for line in text.splitlines() if "ITK ERROR" in line] or text.splitlines()[-1:]
    return lines[0].split("): ", 1)[-1] if lines else "unknown format"


def _read_dicom_series(folder: Path) -> sitk.Image:
    series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series_ids:
        raise GANSynthesisError(f"No DICOM series found in folder {folder}. Point to a folder of DICOM files or to an image file.")
    if len(series_ids) > 1:
        raise GANSynthesisError(
            f"Folder {folder} holds {len(series_ids)} DICOM series ({', '.join(series_ids)}); put one series per folder."
        )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_ids[0]))
    return reader.Execute()


def image_file_suffix(name: str) -> str | None:
    """The single-file image format suffix ``name`` ends with (any case), or None."""
    return next((suffix for suffix in IMAGE_FILE_SUFFIXES if name.lower().endswith(suffix)), None)


def check_writable_path(path: str | os.PathLike, overwrite: bool = False,
                        inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """The output path, refused when its format is unknown, it is an input, or it exists and overwrite is off."""
    path = Path(path)
    if not image_file_suffix(path.name):
        raise GANSynthesisError(f"Unknown output format for {path}; use one of {', '.join(IMAGE_FILE_SUFFIXES)}.")
    return check_output_path(path, overwrite, inputs)


def write_image_file(volume: Volume, path: str | os.PathLike, metadata: Mapping[str, str] | None = None,
                     description: str | None = None) -> None:
    """Write a volume to exactly ``path`` (a staged file of an :class:`OutputSet`); ``metadata`` becomes
    NRRD/MetaImage header keys, ``description`` the NIfTI 'descrip'."""
    image = volume_to_sitk(volume)
    for key, value in (metadata or {}).items():
        image.SetMetaData(key, str(value))
    if description:
        image.SetMetaData(NIFTI_DESCRIPTION_KEY, description[:79])
    try:
        sitk.WriteImage(image, str(path), useCompression=True)
    except RuntimeError as error:
        raise GANSynthesisError(f"Could not write {path}: {str(error).strip().splitlines()[-1]}") from error


def write_volume(volume: Volume, path: str | os.PathLike, metadata: Mapping[str, str] | None = None,
                 description: str | None = None, overwrite: bool = False,
                 inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write a volume as one output (see :class:`OutputSet`): it appears only once completely written, never
    replaces one of ``inputs``, and another run writing the same path at the same time is refused."""
    path = check_writable_path(path, overwrite, inputs)
    with OutputSet([path], overwrite, inputs) as outputs:
        write_image_file(volume, outputs.staged(path), metadata, description)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The key/value metadata stored in an image file's header."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return {key: reader.GetMetaData(key) for key in reader.GetMetaDataKeys()}

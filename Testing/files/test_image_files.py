import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.files.image_files import read_metadata, read_volume, write_volume

from support import oblique_direction


def oblique_volume() -> Volume:
    rng = np.random.default_rng(1)
    return Volume(rng.normal(0, 300, (7, 11, 13)).astype(np.float32), (0.7, 1.3, 3.1), (-12.5, 40.25, 101.0),
                  oblique_direction())


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_round_trip_keeps_voxels_and_geometry_exactly(tmp_path, suffix):
    volume = oblique_volume()
    path = write_volume(volume, tmp_path / f"v{suffix}")
    back = read_volume(path)
    np.testing.assert_array_equal(back.array, volume.array)
    assert back.same_geometry(volume, atol=1e-5)
    assert np.allclose(back.index_to_physical((3, 5, 2)), volume.index_to_physical((3, 5, 2)), atol=1e-4)


def test_index_to_physical_matches_simpleitk(tmp_path):
    volume = oblique_volume()
    image = sitk.ReadImage(str(write_volume(volume, tmp_path / "v.nrrd")))
    assert np.allclose(volume.index_to_physical((4, 2, 6)), image.TransformContinuousIndexToPhysicalPoint((4, 2, 6)))


def test_reads_a_real_ct_dicom_file_folder(tmp_path):
    source = get_testdata_file("CT_small.dcm")
    shutil.copy(source, tmp_path / "slice.dcm")
    volume = read_volume(tmp_path)
    dataset = pydicom.dcmread(source)
    assert volume.array.shape == (1, dataset.Rows, dataset.Columns)
    assert np.allclose(volume.origin, [float(v) for v in dataset.ImagePositionPatient])
    assert np.allclose(volume.spacing[:2], [float(v) for v in dataset.PixelSpacing][::-1])
    hu = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
    np.testing.assert_allclose(volume.array[0], hu)


def test_reads_a_multi_slice_dicom_series_written_by_simpleitk(tmp_path):
    array = (np.arange(4 * 6 * 5).reshape(4, 6, 5) * 3 - 100).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.9, 2.5))
    image.SetOrigin((10.0, -20.0, 30.0))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(array.shape[0]):
        slice_image = image[:, :, k]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        for tag, value in [("0020|000e", "1.2.826.0.1.3680043.2.1125.1"), ("0020|0032", "\\".join(map(str, position))),
                           ("0020|0037", "1\\0\\0\\0\\1\\0"), ("0020|0013", str(k)), ("0008|0060", "CT"),
                           ("0028|0030", "0.9\\0.8"), ("0018|0050", "2.5")]:
            slice_image.SetMetaData(tag, value)
        writer.SetFileName(str(tmp_path / f"{k}.dcm"))
        writer.Execute(slice_image)
    volume = read_volume(tmp_path)
    np.testing.assert_array_equal(volume.array, array)
    assert np.allclose(volume.spacing, (0.8, 0.9, 2.5))
    assert np.allclose(volume.origin, (10.0, -20.0, 30.0))


def test_4d_image_is_refused(tmp_path):
    image = sitk.GetImageFromArray(np.zeros((2, 3, 4, 5), np.float32), isVector=False)
    path = tmp_path / "four_d.nii.gz"
    sitk.WriteImage(image, str(path))
    with pytest.raises(GANSynthesisError, match="4-D"):
        read_volume(path)


def test_colour_image_is_refused(tmp_path):
    path = tmp_path / "rgb.mha"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 5, 3), np.uint8), isVector=True), str(path))
    with pytest.raises(GANSynthesisError, match="components per voxel"):
        read_volume(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(GANSynthesisError, match="not found"):
        read_volume(tmp_path / "nope.nii.gz")


def test_existing_output_is_not_overwritten(tmp_path):
    path = write_volume(oblique_volume(), tmp_path / "v.nrrd")
    before = path.read_bytes()
    with pytest.raises(GANSynthesisError, match="already exists"):
        write_volume(oblique_volume().with_array(np.zeros((7, 11, 13), np.float32)), path)
    assert path.read_bytes() == before
    write_volume(oblique_volume(), path, overwrite=True)


def test_metadata_lands_in_nrrd_keys_and_nifti_description(tmp_path):
    volume = oblique_volume()
    nrrd = write_volume(volume, tmp_path / "v.nrrd", {"GANSynthesis.Synthetic": "true"}, "SYNTHETIC CT")
    assert read_metadata(nrrd)["GANSynthesis.Synthetic"] == "true"
    nifti = write_volume(volume, tmp_path / "v.nii.gz", {"GANSynthesis.Synthetic": "true"}, "SYNTHETIC CT test")
    assert read_metadata(nifti)["descrip"] == "SYNTHETIC CT test"

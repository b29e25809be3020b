"""The real scans of ../shared/data: portable copies for a machine without SimpleITK, the anomaly models' real
normal CT and held-out lesions."""

from __future__ import annotations

import numpy as np
import pytest

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.files.image_files import write_volume
from GANSynthesisTraining.data import real_scans
from GANSynthesisTraining.data.real_normal_ct import NODULE_CASE_SLAB, TRAINING_SLABS, real_normal_ct_present


def test_a_portable_copy_reads_back_as_the_same_volume_when_the_image_file_is_gone(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    volume = Volume(rng.integers(-1024, 2000, (5, 6, 7)).astype(np.int16), (0.7, 0.8, 2.5), (10.0, -4.0, 3.5),
                    np.diag([-1.0, -1.0, 1.0]))
    write_volume(volume, tmp_path / "scan.nii.gz")
    monkeypatch.setenv("GANSYNTHESIS_REAL_DATA", str(tmp_path))
    copies = tmp_path / "copies"
    copies.mkdir()
    real_scans.write_portable_copy("scan.nii.gz", copies)
    monkeypatch.setenv("GANSYNTHESIS_REAL_DATA", str(copies))
    read = real_scans.read_real_scan("scan.nii.gz")
    assert read.array.dtype == np.int16 and np.array_equal(read.array, volume.array)
    assert read.same_geometry(volume)
    with pytest.raises(GANSynthesisError, match="GANSYNTHESIS_REAL_DATA"):
        real_scans.read_real_scan("other.nii.gz")


needs_real_ct = pytest.mark.skipif(not real_normal_ct_present(), reason="the real CTs of ../shared/data are absent")


@needs_real_ct
def test_no_training_slab_touches_the_held_out_nodule_case_or_its_margin():
    from GANSynthesisTraining.data.real_normal_ct import LUNG1, LUNG1_MASK, nodule_case

    start, stop = NODULE_CASE_SLAB
    for first, end in TRAINING_SLABS[LUNG1]:
        assert end <= start - 2 or first >= stop + 2
    nodule = np.flatnonzero(real_scans.read_real_scan(LUNG1_MASK).array.any(axis=(1, 2)))
    assert start + 4 <= nodule.min() and nodule.max() <= stop - 5  # 20 mm of margin either side (5 mm slices)
    assert nodule_case().mask.array.sum() == (real_scans.read_real_scan(LUNG1_MASK).array > 0).sum()


@needs_real_ct
def test_an_inserted_tumour_is_soft_tissue_where_the_lung_was():
    from GANSynthesisTraining.data.inserted_lesions import tumour_cases
    from GANSynthesisTraining.data.real_normal_ct import nodule_case

    original = nodule_case().image.array
    for case in tumour_cases():
        mask = case.mask.array > 0
        assert mask.sum() > 2000
        assert (original[mask] < -300).all() and abs(float(np.median(case.image.array[mask])) - 35.0) < 15.0
        changed = case.image.array != original
        assert changed[mask].all() and changed.sum() < 3 * mask.sum()  # the tumour and its rim alone

"""Lesion phantoms: lesions change only their surroundings, take in-range or out-of-range intensities, and
the same seed gives the same lesions in CT and MR."""

import numpy as np
import pytest

from GANSynthesisLib.phantoms.lesions import LesionKind, lesion_case, normal_image
from GANSynthesisLib.phantoms.thorax import Tissue, generate_phantom


SIZE = (96, 96, 20)


@pytest.fixture(scope="module")
def ct_case():
    return lesion_case(90001, "ct", SIZE)


def test_lesions_change_the_image_only_around_the_lesions(ct_case):
    phantom = generate_phantom(ct_case.seed, SIZE)
    lesion = ct_case.mask.array > 0
    assert ct_case.lesions and lesion.any()
    from scipy import ndimage

    far = ~ndimage.binary_dilation(lesion, iterations=3)
    np.testing.assert_array_equal(ct_case.image.array[far], phantom.ct.array[far])
    assert ct_case.image.same_geometry(phantom.ct)
    assert not np.allclose(ct_case.image.array[lesion], phantom.ct.array[lesion])


def test_in_range_lesions_take_a_normal_tissue_intensity_and_out_of_range_ones_do_not():
    phantom_seeds = range(90000, 90012)
    checked = {LesionKind.IN_RANGE: 0, LesionKind.OUT_OF_RANGE: 0}
    for seed in phantom_seeds:
        case = lesion_case(seed, "ct", SIZE, count=3)
        phantom = generate_phantom(seed, SIZE)
        tissues, normal = phantom.tissues.array, phantom.ct.array
        low, high = np.percentile(normal[phantom.body.array > 0], [0.5, 99.5])
        for kind in LesionKind:
            core = case.mask.array == kind
            if core.sum() < 20:
                continue
            level = float(np.median(case.image.array[core]))
            if kind == LesionKind.IN_RANGE:
                lesion = next(x for x in case.lesions if x.kind == kind)
                mimic = float(np.median(normal[tissues == lesion.mimic]))
                assert low <= level <= high
                if sum(x.kind == kind for x in case.lesions) == 1:
                    assert abs(level - mimic) < 60, (seed, lesion, level, mimic)
            else:
                assert level > high or -650 < level < -300, (seed, level)  # calcified, or gas-mixed
            checked[kind] += 1
    assert checked[LesionKind.IN_RANGE] >= 3 and checked[LesionKind.OUT_OF_RANGE] >= 1


def test_the_same_seed_gives_the_same_lesions_in_ct_and_mr():
    ct, mr = lesion_case(90002, "ct", SIZE), lesion_case(90002, "mr", SIZE)
    np.testing.assert_array_equal(ct.mask.array, mr.mask.array)
    assert ct.lesions == mr.lesions
    normal_mr = normal_image(generate_phantom(90002, SIZE), "mr").array
    lesion = mr.mask.array > 0
    assert np.isfinite(mr.image.array).all() and (mr.image.array >= 0).all()
    assert not np.allclose(mr.image.array[lesion], normal_mr[lesion])
    assert all(x.host in (Tissue.LUNG, Tissue.SOFT_TISSUE, Tissue.MUSCLE, Tissue.MYOCARDIUM, Tissue.FAT)
               for x in mr.lesions)

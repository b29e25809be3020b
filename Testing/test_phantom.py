import numpy as np
import pytest

from GANSynthesisLib.labels import MMWHS_LABELS
from GANSynthesisLib.phantom import Tissue, generate_phantom


@pytest.fixture(scope="module")
def phantom():
    return generate_phantom(7)


def test_same_seed_same_phantom_and_other_seed_differs():
    a, b, c = generate_phantom(3, (64, 64, 24), (5, 5, 5)), generate_phantom(3, (64, 64, 24), (5, 5, 5)), \
        generate_phantom(4, (64, 64, 24), (5, 5, 5))
    np.testing.assert_array_equal(a.ct.array, b.ct.array)
    np.testing.assert_array_equal(a.labels.array, b.labels.array)
    assert not np.array_equal(a.labels.array, c.labels.array)


def test_all_seven_mmwhs_structures_present_with_their_values(phantom):
    values = set(np.unique(phantom.labels.array).tolist())
    assert values == {0, *MMWHS_LABELS.values()}


def test_ct_intensities_follow_anatomy(phantom):
    ct, labels, tissues = phantom.ct.array, phantom.labels.array, phantom.tissues.array
    mean = lambda m: float(ct[m].mean())  # noqa: E731
    assert mean(labels == MMWHS_LABELS["left ventricle"]) > mean(labels == MMWHS_LABELS["myocardium"]) + 100
    assert mean(tissues == Tissue.LUNG) < -700
    assert -150 < mean(tissues == Tissue.FAT) < -50
    assert mean(tissues == Tissue.CORTICAL_BONE) > 400
    assert mean(tissues == Tissue.AIR) < -900
    assert ct.std() > 0 and np.isfinite(ct).all()


def test_anatomical_order(phantom):
    labels, tissues, body = phantom.labels.array, phantom.tissues.array, phantom.body.array > 0
    centroid = lambda m: np.array(np.nonzero(m)).mean(axis=1)  # noqa: E731  (k, j, i)
    heart = centroid(labels > 0)
    spine = centroid(tissues == Tissue.MARROW)
    assert heart[1] < spine[1]  # heart in front of (anterior to) the spine: smaller j
    assert heart[2] > labels.shape[2] / 2 - 1  # heart left of the midline: larger i (LPS +x = left)
    lv, ra = centroid(labels == 500), centroid(labels == 550)
    assert lv[2] > ra[2]  # left ventricle lies to the left of the right atrium
    assert (labels[~body] == 0).all() and (tissues[~body] == Tissue.AIR).all()


def test_any_size_and_spacing_keeps_anatomy_in_millimetres():
    coarse = generate_phantom(11, (64, 64, 24), (6.0, 6.0, 6.0))
    fine = generate_phantom(11, (96, 80, 30), (4.0, 4.8, 4.8))
    assert coarse.ct.array.shape == (24, 64, 64) and fine.ct.array.shape == (30, 80, 96)
    assert fine.ct.spacing == (4.0, 4.8, 4.8)

    def heart_centre_mm(p):
        k, j, i = np.array(np.nonzero(p.labels.array > 0)).mean(axis=1)
        return p.labels.index_to_physical((i, j, k))

    assert np.linalg.norm(heart_centre_mm(coarse) - heart_centre_mm(fine)) < 6.0

import numpy as np
import pytest

from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS
from GANSynthesisLib.phantoms.lesions import lesion_case
from GANSynthesisLib.phantoms.modalities import render_mr
from GANSynthesisLib.phantoms.thorax import Tissue, generate_phantom


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


# --- partial volume -------------------------------------------------------------------------------------------------

PV_SIZE, PV_SPACING = (96, 96, 24), (4.0, 4.0, 4.0)


@pytest.fixture(scope="module")
def sharp_and_partial():
    return generate_phantom(5, PV_SIZE, PV_SPACING), generate_phantom(5, PV_SIZE, PV_SPACING, supersample=3)


def lung_share_per_voxel(phantom) -> np.ndarray:
    """The share of each voxel's fine samples that are lung parenchyma."""
    return phantom.block_means(phantom.fine_tissues.array == Tissue.LUNG)


def mixed_voxels(phantom) -> np.ndarray:
    """The voxels whose fine samples are not all of one tissue."""
    n = phantom.supersample
    k, j, i = phantom.tissues.array.shape
    blocks = phantom.fine_tissues.array.reshape(k, n, j, n, i, n)
    return blocks.min(axis=(1, 3, 5)) != blocks.max(axis=(1, 3, 5))


def test_partial_volume_keeps_the_labels_and_gives_lung_edges_in_between_values(sharp_and_partial):
    sharp, partial = sharp_and_partial
    np.testing.assert_array_equal(partial.labels.array, sharp.labels.array)  # the centre samples: the same anatomy
    np.testing.assert_array_equal(partial.body.array, sharp.body.array)
    assert partial.ct.same_geometry(sharp.ct) and partial.fine_tissues.array.shape == (72, 288, 288)
    body = sharp.body.array > 0

    def in_between(phantom) -> np.ndarray:  # denser than lung, lighter than fat: no tissue of the phantom is there
        return body & (phantom.ct.array > -700) & (phantom.ct.array < -300)

    assert in_between(sharp).mean() < 1e-4 and in_between(partial)[body].mean() > 0.02
    assert mixed_voxels(partial)[in_between(partial)].mean() > 0.95  # they sit where tissues meet
    whole_lung = lung_share_per_voxel(partial) == 1
    assert abs(np.median(partial.ct.array[whole_lung]) - np.median(sharp.ct.array[whole_lung])) < 30


def test_partial_volume_reaches_mr_and_lesions(sharp_and_partial):
    sharp, partial = sharp_and_partial
    mr = render_mr(partial)
    assert mr.same_geometry(partial.ct) and np.isfinite(mr.array).all()
    lung = lung_share_per_voxel(partial)
    mixed, soft = (lung > 0.3) & (lung < 0.7), (lung == 0) & (partial.tissues.array == Tissue.SOFT_TISSUE)
    whole_lung = lung == 1
    assert np.median(mr.array[whole_lung]) < np.median(mr.array[mixed]) < np.median(mr.array[soft])

    normal = generate_phantom(11, PV_SIZE, PV_SPACING, supersample=3).ct.array
    case = lesion_case(11, "ct", PV_SIZE, PV_SPACING, supersample=3)
    assert case.mask.same_geometry(case.image) and case.lesions
    changed = np.abs(case.image.array - normal) > 5
    inside = case.mask.array > 0
    assert changed[inside].mean() > 0.9
    from scipy import ndimage

    rim = ndimage.binary_dilation(inside) & ~inside  # voxels whose centre is outside a lesion, some samples inside
    assert changed[rim].mean() > 0.3 and not changed[~ndimage.binary_dilation(inside, iterations=2)].any()


def test_supersample_must_be_odd():
    with pytest.raises(ValueError, match="odd number"):
        generate_phantom(1, (16, 16, 4), supersample=2)

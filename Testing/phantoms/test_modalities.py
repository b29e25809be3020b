"""Phantoms in other modalities: T1-weighted MR and low-dose CT on the same anatomy."""

import numpy as np
import pytest

from GANSynthesisLib.phantoms.modalities import low_dose_ct, render_mr
from GANSynthesisLib.phantoms.thorax import Tissue, generate_phantom


@pytest.fixture(scope="module")
def phantom():
    return generate_phantom(21, (96, 96, 16), (4.0, 4.0, 4.0))


def test_mr_rendering_has_t1_contrast_on_the_same_anatomy(phantom):
    mr, tissues = render_mr(phantom).array, phantom.tissues.array
    mean = {t: mr[tissues == t].mean() for t in (Tissue.FAT, Tissue.MUSCLE, Tissue.BLOOD_LEFT, Tissue.CORTICAL_BONE,
                                                   Tissue.LUNG, Tissue.AIR)}
    assert mean[Tissue.FAT] > mean[Tissue.MUSCLE] > mean[Tissue.BLOOD_LEFT] > mean[Tissue.CORTICAL_BONE]
    assert mean[Tissue.LUNG] < 0.15 * mean[Tissue.FAT] and mean[Tissue.AIR] < 0.1 * mean[Tissue.FAT]
    air = mr[tissues == Tissue.AIR]
    assert air.min() >= 0 and air.std() > 0  # Rician: magnitude noise, never negative
    np.testing.assert_array_equal(render_mr(phantom).array, mr)  # deterministic by seed


def test_low_dose_ct_is_noisier_with_the_same_anatomy(phantom):
    low = low_dose_ct(phantom.ct, seed=21).array
    muscle = phantom.tissues.array == Tissue.MUSCLE
    assert low[muscle].std() > 1.5 * phantom.ct.array[muscle].std()
    assert abs(low[muscle].mean() - phantom.ct.array[muscle].mean()) < 10  # noise, not a shift
    more = low_dose_ct(phantom.ct, photons_per_ray=1e3, seed=21).array
    assert more[muscle].std() > low[muscle].std()

"""Input checks before inference: percentile normalisation, intensity histograms and their distance, and the
warning about intensities a model did not see."""

import numpy as np
import pytest

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.engine.input_checks import input_warnings
from GANSynthesisLib.models.registry import find_model
from GANSynthesisLib.phantoms.lesions import lesion_case
from GANSynthesisLib.engine.input_checks import histogram_distance, input_range, intensity_histogram, normalised_input

from support import MR_NORMALISATION


def test_a_ct_with_partial_volume_is_warned_about_only_by_the_ct_model_that_does_not_know_it():
    """Sharp-edged phantoms, fanogan-ct-phantom's only data, have (almost) no voxels between lung and fat; partial
    volume puts several per cent there. anomaly-ct-phantom was calibrated on phantoms with partial volume, so it
    knows those intensities. Lesions of those intensities in a sharp phantom are too small to trigger a warning."""
    sharp_only, calibrated = (find_model(name, "anomaly") for name in ("fanogan-ct-phantom", "anomaly-ct-phantom"))
    size, spacing = (96, 96, 24), (4.0, 4.0, 4.0)
    for seed in (90000, 97000):
        sharp, partial = (lesion_case(seed, "ct", size, spacing, supersample=n).image for n in (1, 3))
        assert input_warnings(sharp, sharp_only) == [] and input_warnings(sharp, calibrated) == []
        assert input_warnings(partial, calibrated) == []
        warnings = input_warnings(partial, sharp_only)
        assert len(warnings) == 1 and "(mostly -687.5 to -250 HU" in warnings[0] and "Partial volume" in warnings[0]
        share = float(warnings[0].split("%")[0])
        assert 2 < share < 20


def test_percentile_normalisation_and_histograms():
    rng = np.random.default_rng(0)
    array = rng.uniform(0, 1000, (4, 50, 50))
    low, high = input_range(array, MR_NORMALISATION)
    assert low == pytest.approx(np.percentile(array, 0.5)) and high == pytest.approx(np.percentile(array, 99.5))
    normalised = normalised_input(array, MR_NORMALISATION)
    assert normalised.min() == -1 and normalised.max() == 1
    h = intensity_histogram(normalised)
    assert h.sum() == pytest.approx(1) and histogram_distance(h, h) == 0
    assert histogram_distance(h, intensity_histogram(-np.abs(normalised) * 0.05)) > 0.4
    with pytest.raises(GANSynthesisError, match="constant"):
        input_range(np.full((2, 5, 5), 7.0), MR_NORMALISATION)

"""Anomaly thresholds: the calibrated default, one in heat units, or the one that marks a share of normal tissue."""

import numpy as np
import pytest

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.models.manifest import AnomalySettings, Grid, InputSpec, Manifest, OutputSpec
from GANSynthesisLib.tasks.anomaly.surprise import tail_table
from GANSynthesisLib.tasks.anomaly.thresholds import (normal_share_marked, percent_text, resolve_threshold,
                                                      threshold_for_normal_share, threshold_text)


def manifest_with(normal_heat: np.ndarray | None, threshold: float = 0.3) -> Manifest:
    settings = AnomalySettings(threshold=threshold, smoothing_mm=3.0, body_level=-0.5,
                               normal_heat=None if normal_heat is None else tail_table(normal_heat))
    return Manifest(name="test-model", version="0", task="anomaly", architecture={}, input=InputSpec(),
                    output=OutputSpec(), grid=Grid((3.0, 3.0)), anomaly=settings)


UNIFORM = manifest_with(np.random.default_rng(3).uniform(size=100_000))


def test_a_share_of_normal_tissue_becomes_the_threshold_that_marks_it_and_back():
    assert threshold_for_normal_share(UNIFORM, 0.01) == pytest.approx(0.99, abs=0.002)
    assert threshold_for_normal_share(UNIFORM, 0.2) == pytest.approx(0.8, abs=0.01)
    assert normal_share_marked(UNIFORM, 0.99) == pytest.approx(0.01, rel=0.05)
    for share in (0.3, 0.02, 0.003, 1e-4):
        assert normal_share_marked(UNIFORM, threshold_for_normal_share(UNIFORM, share)) == pytest.approx(share,
                                                                                                         rel=1e-6)
    assert normal_share_marked(UNIFORM, 1.0) == pytest.approx(1e-5)  # no finer than the table's 100 000 voxels
    assert normal_share_marked(manifest_with(None), 0.5) is None


def test_the_threshold_is_the_given_one_else_the_shares_else_the_models_default():
    assert resolve_threshold(UNIFORM) == 0.3
    assert resolve_threshold(UNIFORM, threshold=0.5) == 0.5
    assert resolve_threshold(UNIFORM, normal_share=0.01) == threshold_for_normal_share(UNIFORM, 0.01)


@pytest.mark.parametrize("manifest, threshold, share, message", [
    (UNIFORM, 0.5, 0.01, "not both"),
    (UNIFORM, 1.5, None, r"must lie in \(0, 1\]"),
    (UNIFORM, 0.0, None, r"must lie in \(0, 1\]"),
    (UNIFORM, None, 0.0, "between 0 and 1"),
    (UNIFORM, None, 1.0, "between 0 and 1"),
    (UNIFORM, None, 1e-6, r"below 1e-05 \(0.001 %\); choose a larger share"),
    (manifest_with(None), None, 0.01, r"test-model was exported without .*\(its default is 0.3\)"),
])
def test_a_threshold_that_cannot_be_used_is_refused_with_the_reason(manifest, threshold, share, message):
    with pytest.raises(GANSynthesisError, match=message):
        resolve_threshold(manifest, threshold, share)


def test_shares_and_thresholds_read_as_people_write_them():
    assert [percent_text(share) for share in (0.0052, 0.12, 5.6e-7, 1.0, 0.001)] == [
        "0.52 %", "12 %", "0.000056 %", "100 %", "0.1 %"]
    assert threshold_text({"threshold": 0.275}) == "threshold 0.275"
    assert threshold_text({"threshold": 0.275, "normal_share_marked": 0.0052}) == (
        "threshold 0.275, which marks 0.52 % of normal tissue on the model's calibration phantoms")

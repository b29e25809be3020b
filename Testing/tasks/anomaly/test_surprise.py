"""Evidence on one scale: surprise tables learned from normal voxels, intensity rarity, and their heat."""

import numpy as np
import pytest

from GANSynthesisLib.tasks.anomaly.intensity_rarity import fit_intensity_rarity, intensity_rarity
from GANSynthesisLib.tasks.anomaly.surprise import (HALF_HEAT_SURPRISE, combined_heat, joint_surprise, surprise,
                                                    tail_table)


def test_surprise_is_minus_log10_of_the_share_of_normal_voxels_scoring_higher():
    normal = np.random.default_rng(0).random(200_000)  # uniform: a share q of voxels scores above 1 − q
    table = tail_table(normal)
    assert table[0][1] == 0 and table[-1][1] == pytest.approx(5.25)  # quarter decades up to 10^-5.25 of 2·10^5
    probes = np.array([0.5, 0.9, 0.99, 0.999])
    assert surprise(probes, table) == pytest.approx([np.log10(2), 1, 2, 3], abs=0.05)


def test_surprise_grows_with_the_score_beyond_what_normal_voxels_reached():
    table = tail_table(np.random.default_rng(1).normal(size=50_000))
    scores = np.linspace(-10, 10, 401)
    values = surprise(scores, table)
    assert values[0] == 0 and (np.diff(values) >= 0).all()
    assert values[-1] > table[-1][1] and values[-2] < values[-1]
    assert surprise(np.zeros((2, 3)), table).shape == (2, 3)


def test_tied_normal_scores_keep_their_smallest_surprise():
    normal = np.r_[np.zeros(9_000), np.linspace(0.1, 1.0, 1_000)]  # nine voxels in ten score exactly 0
    table = tail_table(normal)
    assert [value for value, _ in table] == sorted({value for value, _ in table})
    assert surprise(np.array([0.0]), table)[0] == 0


def test_too_few_normal_voxels_are_refused():
    with pytest.raises(ValueError, match="at least 10 normal voxels"):
        tail_table(np.arange(5.0))


def test_combined_heat_sums_the_surprises_and_reaches_half_at_one_in_a_million():
    normal = np.random.default_rng(2).random(1_000_000)
    tables = {"context": tail_table(normal), "intensity": tail_table(normal)}
    one_in_a_thousand = np.array([0.999])
    assert combined_heat(one_in_a_thousand, one_in_a_thousand, tables)[0] == pytest.approx(0.5, abs=0.01)
    assert combined_heat(np.array([0.0]), np.array([0.0]), tables)[0] == 0
    grid = np.linspace(0, 1, 50)
    heat = combined_heat(grid[:, None], grid[None, :], tables)
    assert (np.diff(heat, axis=0) >= 0).all() and (np.diff(heat, axis=1) >= 0).all() and heat.max() < 1
    assert HALF_HEAT_SURPRISE == 6.0


def test_intensity_rarity_is_zero_for_common_and_one_for_unseen_intensities():
    body = np.full(10_000, -0.1)  # one normal intensity only
    rarity = fit_intensity_rarity([body, body])
    values = intensity_rarity(np.array([-0.1, 0.8, -1.0, 1.0]), rarity)
    assert values[0] == pytest.approx(0, abs=1e-6) and values[1:] == pytest.approx(1, abs=1e-6)
    with pytest.raises(ValueError, match="no body voxels"):
        fit_intensity_rarity([np.array([])])


def test_intensity_surprise_counts_only_beyond_the_floor():
    normal = np.random.default_rng(3).random(100_000)
    tables = {"context": tail_table(normal), "intensity": tail_table(normal)}
    floored = tables | {"intensity_floor": 2.0}
    context, intensity = np.array([0.9, 0.9, 0.9]), np.array([0.9, 0.99, 0.9999])  # intensity surprise 1, 2, 4
    plain, beyond = joint_surprise(context, intensity, tables), joint_surprise(context, intensity, floored)
    assert plain == pytest.approx([2, 3, 5], abs=0.05)
    assert beyond == pytest.approx([1, 1, 3], abs=0.05)  # context's 1, plus what exceeds 2
    assert joint_surprise(context, intensity, tables | {"intensity_floor": 0.0}) == pytest.approx(plain)

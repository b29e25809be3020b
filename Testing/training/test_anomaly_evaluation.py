"""How anomaly models are judged (GANSynthesisTraining.evaluation): detection metrics against their definitions,
what a threshold marks, and the intensity floor."""

import numpy as np
import pytest

from GANSynthesisLib.tasks.anomaly.surprise import joint_surprise, tail_table
from GANSynthesisTraining.evaluation.detection_metrics import at_threshold, detection_metrics


def brute_force(scores, truth):
    positives, negatives = scores[truth], scores[~truth]
    auroc = (positives[:, None] > negatives[None]).mean() + 0.5 * (positives[:, None] == negatives[None]).mean()
    thresholds = np.unique(scores)[::-1]
    recall_before, ap, best = 0.0, 0.0, 0.0
    for t in thresholds:
        predicted = scores >= t
        tp = (predicted & truth).sum()
        recall, precision = tp / truth.sum(), tp / predicted.sum()
        ap += (recall - recall_before) * precision
        recall_before = recall
        best = max(best, 2 * tp / (predicted.sum() + truth.sum()))
    return auroc, ap, best


def test_detection_metrics_match_their_definitions_with_ties():
    rng = np.random.default_rng(3)
    truth = rng.random(3000) < 0.07
    scores = np.round(rng.normal(size=3000) + 1.2 * truth, 1)
    metrics = detection_metrics(scores, truth)
    auroc, ap, best = brute_force(scores, truth)
    assert metrics["auroc"] == pytest.approx(auroc, abs=1e-12)
    assert metrics["auprc"] == pytest.approx(ap, abs=1e-12)
    assert metrics["best_dice"] == pytest.approx(best, abs=1e-12)
    assert at_threshold(scores, truth, metrics["best_threshold"])["dice"] == pytest.approx(best)
    perfect = detection_metrics(truth.astype(float), truth)
    assert perfect["auroc"] == perfect["auprc"] == perfect["best_dice"] == 1.0
    with pytest.raises(ValueError, match="both"):
        detection_metrics(scores, np.zeros(3000, bool))


def test_what_a_threshold_marks_is_counted_over_lesion_and_normal_voxels():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], bool)
    scores = np.array([.9, .5, .3, .1, .8, .4, .2, .2, .1, 0, 0, 0, 0, 0])
    marked = at_threshold(scores, truth, 0.3)  # marks 3 lesion voxels (.9 .5 .3) and 2 normal ones (.8 .4)
    assert marked == pytest.approx({"dice": 6 / 9, "lesion_found": 3 / 4, "normal_marked": 2 / 10})
    assert at_threshold(scores, truth, 1.0) == {"dice": 0.0, "lesion_found": 0.0, "normal_marked": 0.0}
    assert at_threshold(scores[4:], truth[4:], 1.0) == {"dice": 1.0, "lesion_found": 0.0, "normal_marked": 0.0}
    assert at_threshold(scores[:4], truth[:4], 0.0)["normal_marked"] == 0.0


def test_the_intensity_floor_drops_the_intensities_of_edges_and_keeps_those_rarer_than_any_edge():
    """Normal voxels: one in ten lies on an edge, whose intensity band is uncommon and whose context is hard to
    explain. Faint lesions are unusual only in context (ordinary intensity), dense ones only in intensity
    (surprise 4, rarer than almost every edge). Summing in full lets edges outscore faint lesions; ignoring
    intensity loses the dense ones; the chosen floor lies between and beats both."""
    from GANSynthesisTraining.evaluation.anomaly_evaluation import best_intensity_floor

    rng = np.random.default_rng(4)
    n = 200_000
    context = rng.random(n)
    edge = rng.random(n) < 0.1
    intensity = np.where(edge, rng.uniform(0.9, 1.0, n), rng.uniform(0.0, 0.9, n))
    context[edge] = np.maximum(context[edge], rng.random(edge.sum()))
    truth = np.arange(n) < 300
    dense_intensity = np.quantile(intensity[~truth], 1 - 1e-4)
    context[:200], intensity[:200] = 1 - 10**-2.5, 0.5
    context[200:300], intensity[200:300] = 0.5, dense_intensity
    tables = {"context": tail_table(context[~truth]), "intensity": tail_table(intensity[~truth])}
    floor = best_intensity_floor(context, intensity, truth, tables)
    auprc = {f: detection_metrics(joint_surprise(context, intensity, tables | {"intensity_floor": f}), truth)["auprc"]
             for f in (0.0, floor, 6.0)}
    assert 0 < floor < 4
    assert auprc[floor] > auprc[0.0] + 0.03 and auprc[floor] > auprc[6.0] + 0.03

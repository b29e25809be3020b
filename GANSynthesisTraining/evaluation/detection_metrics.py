"""Pixel-level anomaly detection metrics: AUROC, AUPRC (average precision), the best achievable Dice, and what
one threshold marks.

AUROC, AUPRC and the best Dice rank the voxels by score once; ties count together (one threshold per distinct score).
"""

from __future__ import annotations

import numpy as np


def _ranked_counts(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Distinct thresholds (descending) and the true and false positives at or above each."""
    scores = np.asarray(scores, np.float64).ravel()
    truth = np.asarray(truth, bool).ravel()
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], scores.size - 1]
    true_positives = np.cumsum(truth)[last_of_tie]
    false_positives = (last_of_tie + 1) - true_positives
    return scores[last_of_tie], true_positives, false_positives, int(truth.sum()), int(truth.size - truth.sum())


def detection_metrics(scores: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """AUROC, AUPRC, the best Dice over all thresholds and that threshold, for voxel ``scores`` against a
    boolean lesion mask ``truth`` (same shape; pass only the voxels to judge, e.g. those in the body)."""
    thresholds, tp, fp, positives, negatives = _ranked_counts(scores, truth)
    if positives == 0 or negatives == 0:
        raise ValueError("detection metrics need both lesion and normal voxels")
    tpr = np.r_[0.0, tp / positives]
    fpr = np.r_[0.0, fp / negatives]
    auroc = float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2))
    precision = tp / (tp + fp)
    auprc = float(np.sum((tpr[1:] - tpr[:-1]) * precision))
    dice = 2 * tp / (tp + fp + positives)
    best = int(np.argmax(dice))
    return {"auroc": auroc, "auprc": auprc, "best_dice": float(dice[best]), "best_threshold": float(thresholds[best]),
            "lesion_fraction": positives / (positives + negatives)}


def at_threshold(scores: np.ndarray, truth: np.ndarray, threshold: float) -> dict[str, float]:
    """What ``scores >= threshold`` marks against ``truth``: its Dice (1.0 when both are empty), the share of
    lesion voxels it finds and the share of normal voxels it marks (0.0 when there are none of them)."""
    predicted = np.asarray(scores) >= threshold
    truth = np.asarray(truth, bool)
    found = int((predicted & truth).sum())
    positives, marked = int(truth.sum()), int(predicted.sum())
    negatives = truth.size - positives
    return {"dice": 1.0 if marked + positives == 0 else 2 * found / (marked + positives),
            "lesion_found": found / positives if positives else 0.0,
            "normal_marked": (marked - found) / negatives if negatives else 0.0}

"""Anomaly evidence on one scale: how unusual a score is among the voxels of normal anatomy, as −log10 of the
share of normal voxels that score at least as high (surprise 3: one normal voxel in a thousand does)."""

from __future__ import annotations

import numpy as np

KNOTS_PER_DECADE = 4
HALF_HEAT_SURPRISE = 6.0  # a joint surprise this large (one normal voxel in a million) maps to heat 0.5


def tail_table(normal_scores: np.ndarray) -> list[list[float]]:
    """Knots [score, surprise] of the scores of normal voxels, every quarter decade of their upper tail, as far
    as their number allows."""
    scores = np.asarray(normal_scores, np.float64).ravel()
    if scores.size < 10:
        raise ValueError(f"a surprise table needs at least 10 normal voxels; got {scores.size}")
    decades = np.arange(int(np.log10(scores.size) * KNOTS_PER_DECADE) + 1) / KNOTS_PER_DECADE
    values = np.quantile(scores, 1.0 - 10.0 ** -decades)
    values, first = np.unique(values, return_index=True)  # a tied score keeps its most common (smallest) surprise
    return [[float(value), float(decade)] for value, decade in zip(values, decades[first])]


def surprise(scores: np.ndarray, table: list[list[float]]) -> np.ndarray:
    """Surprise of each score (float32): interpolated between the table's knots, 0 below the first, extended
    along the last stretch above the last, so higher scores always surprise more."""
    scores = np.asarray(scores, np.float64)
    knots = np.asarray(table, np.float64)
    values, decades = knots[:, 0], knots[:, 1]
    result = np.interp(scores, values, decades)
    if len(values) > 1:
        slope = (decades[-1] - decades[-2]) / (values[-1] - values[-2])
        result = np.where(scores > values[-1], decades[-1] + slope * (scores - values[-1]), result)
    return np.asarray(result, np.float32)


def joint_surprise(context: np.ndarray, intensity: np.ndarray, tables: dict) -> np.ndarray:
    """S: the surprise in context plus what the surprise of the intensity exceeds the tables' ``intensity_floor``
    (0 when they name none), each judged against normal anatomy with its table. Below the floor an intensity is
    common enough in normal bodies (edges with partial volume) to say nothing about a lesion."""
    excess = surprise(intensity, tables["intensity"]) - np.float32(tables.get("intensity_floor", 0.0))
    return surprise(context, tables["context"]) + np.maximum(excess, np.float32(0.0))


def heat_from_surprise(joint: np.ndarray) -> np.ndarray:
    """Heat in [0, 1) from a joint surprise S: S / (S + 6)."""
    return joint / (joint + np.float32(HALF_HEAT_SURPRISE))


def combined_heat(context: np.ndarray, intensity: np.ndarray, tables: dict) -> np.ndarray:
    """Heat in [0, 1) from two kinds of evidence (:func:`joint_surprise`, then :func:`heat_from_surprise`)."""
    return heat_from_surprise(joint_surprise(context, intensity, tables))

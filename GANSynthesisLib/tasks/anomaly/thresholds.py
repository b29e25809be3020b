"""An anomaly model's threshold in heat units: its calibrated default, one the user gives, or the one that marks a
chosen share of normal anatomy. Bundles whose manifest holds ``anomaly.normal_heat`` (the tail table, see
:mod:`.surprise`, of their heat over the normal voxels of their calibration phantoms) translate between a
threshold and the share of normal voxels it marks."""

from __future__ import annotations

import numpy as np

from ...core.errors import GANSynthesisError
from ...models.manifest import Manifest
from .surprise import surprise


def normal_heat_table(manifest: Manifest) -> list[list[float]] | None:
    """Knots [heat, −log10 share of normal voxels at least that hot]; None for bundles exported without them."""
    return manifest.anomaly.normal_heat


def smallest_share(table: list[list[float]]) -> float:
    """The smallest share of normal voxels a normal-heat table resolves (one in as many as it was made from)."""
    return float(10.0 ** -table[-1][1])


def anomaly_threshold_inputs(threshold: float | None = None, normal_share: float | None = None) -> dict[str, float]:
    """The anomaly task's inputs for a threshold given in heat units or as a share of normal tissue (or neither)."""
    return {key: value for key, value in (("threshold", threshold), ("normal_share", normal_share))
            if value is not None}


def normal_share_marked(manifest: Manifest, threshold: float) -> float | None:
    """The share of the calibration phantoms' normal voxels whose heat reaches ``threshold`` (never below the
    smallest share the table resolves); None when the bundle has no table."""
    table = normal_heat_table(manifest)
    if table is None:
        return None
    return max(float(10.0 ** -surprise(np.array([threshold]), table)[0]), smallest_share(table))


def threshold_for_normal_share(manifest: Manifest, share: float) -> float:
    """The heat threshold that marks ``share`` (0.01: 1 %) of the calibration phantoms' normal voxels."""
    table = normal_heat_table(manifest)
    if table is None:
        raise GANSynthesisError(f"Model {manifest.name} was exported without the heat of normal anatomy on its "
                                f"calibration phantoms, so it cannot choose a threshold by the share of normal tissue "
                                f"marked; give a threshold in heat units instead (its default is "
                                f"{manifest.anomaly.threshold:g}).")
    if not 0.0 < share < 1.0:
        raise GANSynthesisError(f"The share of normal tissue to mark must lie between 0 and 1 (0.01 marks 1 %); "
                                f"got {share:g}.")
    smallest = smallest_share(table)
    if share < smallest:
        raise GANSynthesisError(f"Model {manifest.name} was calibrated on too few normal voxels to tell a share "
                                f"below {smallest:.2g} ({percent_text(smallest)}); choose a larger share.")
    heats, decades = np.asarray(table, np.float64).T
    return float(np.interp(-np.log10(share), decades, heats))


def resolve_threshold(manifest: Manifest, threshold: float | None = None, normal_share: float | None = None) -> float:
    """The heat threshold to use: ``threshold`` if given, else the one marking ``normal_share`` if given, else the
    model's calibrated default; a clear error when both are given or a given threshold lies outside (0, 1]."""
    if threshold is not None and normal_share is not None:
        raise GANSynthesisError("Give either a threshold in heat units or a share of normal tissue to mark, not both.")
    if normal_share is not None:
        return threshold_for_normal_share(manifest, float(normal_share))
    threshold = float(manifest.anomaly.threshold) if threshold is None else float(threshold)
    if not 0.0 < threshold <= 1.0:
        raise GANSynthesisError(f"The anomaly threshold must lie in (0, 1] (heatmap units); got {threshold:g}.")
    return threshold


def percent_text(share: float) -> str:
    """A share as a percentage with at most two significant digits: '0.52 %', '12 %', '0.1 %', '0.000056 %'."""
    percent = 100.0 * share
    decimals = max(0, 1 - int(np.floor(np.log10(percent)))) if percent > 0 else 0
    text = f"{percent:.{decimals}f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " %"


def threshold_summary(manifest: Manifest, threshold: float) -> dict[str, float]:
    """An anomaly run's summary entries for its threshold: the threshold and, where the model can tell, the share
    of its calibration phantoms' normal voxels it marks (``normal_share_marked``)."""
    share = normal_share_marked(manifest, threshold)
    return {"threshold": threshold} | ({} if share is None else {"normal_share_marked": share})


def threshold_hint(manifest: Manifest, chosen: float = 0.0) -> str:
    """What a threshold chosen in the module (0: the model's default) means, e.g. 'model default: threshold 0.275,
    which marks 0.56 % of normal tissue on the model's calibration phantoms'."""
    threshold = chosen or float(manifest.anomaly.threshold)
    return ("" if chosen else "model default: ") + threshold_text(threshold_summary(manifest, threshold))


def threshold_text(summary: dict) -> str:
    """'threshold 0.275, which marks 0.56 % of normal tissue on the model's calibration phantoms', from an anomaly
    run's summary (without the clause when the model cannot tell)."""
    text = f"threshold {summary['threshold']:g}"
    if "normal_share_marked" in summary:
        text += (f", which marks {percent_text(summary['normal_share_marked'])} of normal tissue on the model's "
                 "calibration phantoms")
    return text

"""An anomaly model's card lines: held-out detection against the intensity baseline, what its default threshold
finds and marks, and the thresholds that mark a chosen share of normal tissue."""

from __future__ import annotations

from ...models.manifest import Manifest
from .thresholds import normal_heat_table, percent_text, smallest_share, threshold_for_normal_share

LISTED_SHARES = (0.05, 0.01, 0.001)  # shares of normal tissue whose thresholds the cards list


def default_threshold_line(manifest: Manifest) -> str:
    """An anomaly model's default threshold and, where its held-out metrics hold them, the share of lesion
    voxels it finds and of normal body voxels it marks there (all lesions, pooled)."""
    threshold = manifest.anomaly.threshold
    pooled = manifest.metrics.get("model", {}).get("all lesions", {}).get("pooled", {})
    if "normal_marked_at_threshold" not in pooled:
        return f"Default threshold {threshold:g} (the best Dice on calibration lesion phantoms)"
    found, marked = pooled["lesion_found_at_threshold"], pooled["normal_marked_at_threshold"]
    return (f"Default threshold {threshold:g}: on the held-out cases it finds {percent_text(found)} of lesion voxels "
            f"and marks {percent_text(marked)} of normal body voxels")


def normal_share_line(manifest: Manifest) -> str | None:
    """The thresholds that mark 5 %, 1 % and 0.1 % of the calibration phantoms' normal voxels (those the table
    resolves); None for models that cannot set a threshold by that share."""
    table = normal_heat_table(manifest)
    if table is None:
        return None
    pairs = ", ".join(f"{percent_text(share)} at {threshold_for_normal_share(manifest, share):.3g}"
                      for share in LISTED_SHARES if share >= smallest_share(table))
    return f"Thresholds by the share of normal tissue they mark on the calibration phantoms: {pairs}"


def anomaly_card_lines(manifest: Manifest) -> list[str]:
    """Held-out AUROC/AUPRC per lesion subset beside the intensity threshold, then the threshold lines."""
    metrics = manifest.metrics
    if "model" not in metrics:
        return []
    lines = []
    for subset, pooled in metrics["model"].items():
        model, baseline = pooled["pooled"], metrics["baseline"][subset]["pooled"]
        alone = metrics.get("context alone", {}).get(subset)
        networks = f"networks alone: AUPRC {alone['pooled']['auprc']:.3f}; " if alone else ""
        lines.append(f"Held-out, {subset}: AUROC {model['auroc']:.2f}, AUPRC {model['auprc']:.3f} ({networks}"
                     f"intensity threshold: AUROC {baseline['auroc']:.2f}, AUPRC {baseline['auprc']:.3f})")
    share_line = normal_share_line(manifest)
    return [*lines, default_threshold_line(manifest), *([share_line] if share_line else [])]

"""Short model cards for the GUI: what a model was trained on, how well it did, what it is for."""

from __future__ import annotations

import html

from ..models.bundle import ModelBundle
from ..models.manifest import Manifest
from .anomaly.thresholds import normal_heat_table, percent_text, smallest_share, threshold_for_normal_share

LISTED_SHARES = (0.05, 0.01, 0.001)  # shares of normal tissue whose thresholds the cards list


def metric_line(scores: dict) -> str:
    """'MAE 120 HU, PSNR 24.1 dB, SSIM 0.81'."""
    return f"MAE {scores['mae']:.0f} HU, PSNR {scores['psnr']:.1f} dB, SSIM {scores['ssim']:.2f}"


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


def held_out_lines(manifest: Manifest) -> list[str]:
    """Plain-text lines of a manifest's held-out results: the model, then its baselines."""
    metrics = manifest.metrics
    if "model" not in metrics:
        return []
    if manifest.task == "anomaly":
        lines = []
        for subset, pooled in metrics["model"].items():
            model, baseline = pooled["pooled"], metrics["baseline"][subset]["pooled"]
            alone = metrics.get("context alone", {}).get(subset)
            networks = f"networks alone: AUPRC {alone['pooled']['auprc']:.3f}; " if alone else ""
            lines.append(f"Held-out, {subset}: AUROC {model['auroc']:.2f}, AUPRC {model['auprc']:.3f} ({networks}"
                         f"intensity threshold: AUROC {baseline['auroc']:.2f}, AUPRC {baseline['auprc']:.3f})")
        share_line = normal_share_line(manifest)
        return [*lines, default_threshold_line(manifest), *([share_line] if share_line else [])]
    return [f"Held-out: {metric_line(metrics['model'])}",
            *(f"  baseline, {name}: {metric_line(scores)}" for name, scores in metrics.get("baselines", {}).items())]


def model_card_html(bundle: ModelBundle) -> str:
    """A few lines of rich text (Qt subset of HTML) describing a bundle."""
    m = bundle.manifest
    esc = html.escape
    lines = [f"<b>{esc(bundle.title)}</b> <span style='color:gray'>({esc(bundle.name)} v{esc(m.version)})</span>"]
    if m.input.labels is not None:
        lines.append("Labels: " + esc(", ".join(m.input.labels)))
    else:
        lines.append("Input: " + esc(m.input.modality or "image"))
    lines.append(f"Output: {esc(m.output.modality or '')} ({esc(m.output.units or '')}), "
                 f"{m.grid.in_plane_spacing_mm[0]:g} mm axial grid")
    lines.append("Trained on: " + esc(m.training.get("data", "unknown")))
    lines += [esc(line) for line in held_out_lines(m)]
    lines.append(f"<b>Intended use: {esc(m.intended_use)}</b>")
    return "<br>".join(lines)

"""Card lines of a model scored with image metrics (MAE, PSNR, SSIM) beside its baselines."""

from __future__ import annotations

from ..models.manifest import Manifest


def metric_line(scores: dict) -> str:
    """'MAE 120 HU, PSNR 24.1 dB, SSIM 0.81'."""
    return f"MAE {scores['mae']:.0f} HU, PSNR {scores['psnr']:.1f} dB, SSIM {scores['ssim']:.2f}"


def image_metric_lines(manifest: Manifest) -> list[str]:
    """The model's held-out image metrics, then its baselines'."""
    metrics = manifest.metrics
    if "model" not in metrics:
        return []
    return [f"Held-out: {metric_line(metrics['model'])}",
            *(f"  baseline, {name}: {metric_line(scores)}" for name, scores in metrics.get("baselines", {}).items())]

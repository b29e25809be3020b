"""Short model cards for the GUI: what a model was trained on, how well it did, what it is for."""

from __future__ import annotations

import html

from .bundle import ModelBundle


def metric_line(scores: dict) -> str:
    """'MAE 120 HU, PSNR 24.1 dB, SSIM 0.81'."""
    return f"MAE {scores['mae']:.0f} HU, PSNR {scores['psnr']:.1f} dB, SSIM {scores['ssim']:.2f}"


def model_card_html(bundle: ModelBundle) -> str:
    """A few lines of rich text (Qt subset of HTML) describing a bundle."""
    m = bundle.manifest
    esc = html.escape
    lines = [f"<b>{esc(bundle.title)}</b> <span style='color:gray'>({esc(bundle.name)} v{esc(str(m['version']))})</span>"]
    if "labels" in m["input"]:
        lines.append("Labels: " + esc(", ".join(m["input"]["labels"])))
    else:
        lines.append("Input: " + esc(m["input"].get("modality", "image")))
    lines.append(f"Output: {esc(m['output'].get('modality', ''))} ({esc(m['output'].get('units', ''))}), "
                 f"{m['grid']['in_plane_spacing_mm'][0]:g} mm axial grid")
    lines.append("Trained on: " + esc(m.get("training", {}).get("data", "unknown")))
    metrics = m.get("metrics", {})
    if "model" in metrics:
        lines.append(esc("Held-out: " + metric_line(metrics["model"])))
        for name, scores in metrics.get("baselines", {}).items():
            lines.append(esc(f"  baseline, {name}: " + metric_line(scores)))
    lines.append(f"<b>Intended use: {esc(m['intended_use'])}</b>")
    return "<br>".join(lines)

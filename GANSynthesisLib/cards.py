"""Short model cards for the GUI: what a model was trained on, how well it did, what it is for."""

from __future__ import annotations

import html

from .bundle import ModelBundle


def model_card_html(bundle: ModelBundle) -> str:
    """A few lines of rich text (Qt subset of HTML) describing a bundle."""
    m = bundle.manifest
    esc = html.escape
    lines = [f"<b>{esc(bundle.title)}</b> <span style='color:gray'>({esc(bundle.name)} v{esc(str(m['version']))})</span>"]
    if "labels" in m["input"]:
        lines.append("Labels: " + esc(", ".join(m["input"]["labels"])))
    lines.append(f"Output: {esc(m['output'].get('modality', ''))} ({esc(m['output'].get('units', ''))}), "
                 f"{m['grid']['in_plane_spacing_mm'][0]:g} mm axial grid")
    lines.append("Trained on: " + esc(m.get("training", {}).get("data", "unknown")))
    metrics = m.get("metrics", {})
    if "gan" in metrics:
        gan, base = metrics["gan"], metrics.get("baseline_label_mean_hu")
        text = (f"Held-out: MAE {gan['mae']:.0f} HU, PSNR {gan['psnr']:.1f} dB, SSIM {gan['ssim']:.2f}")
        if base:
            text += f" (baseline MAE {base['mae']:.0f} HU, SSIM {base['ssim']:.2f})"
        lines.append(esc(text))
    lines.append(f"<b>Intended use: {esc(m['intended_use'])}</b>")
    return "<br>".join(lines)

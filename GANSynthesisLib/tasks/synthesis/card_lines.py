"""A synthesis model's card lines: how its blood is set, and its held-out results on real CT beside the per-label
mean HU (from ``evaluate-wholebody``)."""

from __future__ import annotations

from ...models.manifest import Manifest
from ..image_metric_lines import image_metric_lines
from .contrast_phases import DEFAULT_PHASE, PHASES


def synthesis_card_lines(manifest: Manifest) -> list[str]:
    """The contrast line, then one line per held-out real CT (phantom results stay in the model card), or the
    image metrics of a model scored on phantoms."""
    lines = [f"Contrast: blood in arteries and heart chambers set to the phase asked for (default {DEFAULT_PHASE}, "
             f"{PHASES[DEFAULT_PHASE]:g} HU)"]
    for name, result in manifest.metrics.get("results", {}).items():
        if name.startswith("phantom"):
            continue
        methods = result["methods"]
        model, baseline = methods["model"], methods.get("per-label mean HU")
        line = f"Held-out {name}: body MAE {model['body_mae']:.0f} HU, histogram EMD {model['body_hist_emd']:.0f} HU"
        if baseline:
            line += f" (per-label mean HU: {baseline['body_mae']:.0f}, {baseline['body_hist_emd']:.0f})"
        lines.append(line)
    return lines + image_metric_lines(manifest)

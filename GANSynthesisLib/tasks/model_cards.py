"""Short model cards for the GUI and the `models` listing: what a model was trained on, how well it did on held-out
data (each task says how, see :attr:`.spec.TaskSpec.card_lines`), what it is for."""

from __future__ import annotations

import html

from ..models.bundle import ModelBundle
from ..models.manifest import Manifest
from .catalogue import TASKS
from .image_metric_lines import image_metric_lines


def held_out_lines(manifest: Manifest) -> list[str]:
    """Plain-text lines of a manifest's held-out results, as its task reports them (image metrics by default)."""
    task = TASKS.get(manifest.task)
    return (task.card_lines if task and task.card_lines else image_metric_lines)(manifest)


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

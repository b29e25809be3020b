"""PNG figures of training: loss curves and image grids."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_losses(csv_path: Path, png_path: Path) -> None:
    """Curves from a training log CSV: one panel per loss (or, without ``loss_`` columns, per value)."""
    with open(csv_path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    names = [k for k in rows[0] if k.startswith("loss_")] or [k for k in rows[0] if k != "step"]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.plot(steps, [float(r[name]) for r in rows])
        ax.set_title(name.removeprefix("loss_"))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    plt.close(fig)


def save_image_grid(columns: dict[str, list[np.ndarray]], png_path: Path, windows: dict[str, tuple] | None = None,
                    title: str = "") -> None:
    """Rows of images, one column per named list; ``windows`` gives (vmin, vmax, cmap) per column."""
    names = list(columns)
    rows = len(columns[names[0]])
    fig, axes = plt.subplots(rows, len(names), figsize=(2.6 * len(names), 2.6 * rows), squeeze=False)
    for c, name in enumerate(names):
        vmin, vmax, cmap = (windows or {}).get(name, (None, None, "gray"))
        for r, image in enumerate(columns[name]):
            ax = axes[r, c]
            shown = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name)
            if r == rows - 1 and cmap != "tab10":
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, orientation="horizontal")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=80)
    plt.close(fig)

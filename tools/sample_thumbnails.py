"""Draw the Sample Data thumbnails of the sample phantoms (GANSynthesis/Resources/Icons) and check them in a test.

Each thumbnail is the axial slice with the most segments (then the most segmented voxels): CT | MR, the MR with the
segments' outlines in their colours (CT | CT for a sample without MR).
Usage: python tools/sample_thumbnails.py [OUTPUT_FOLDER] (default: the module's icon folder)
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from GANSynthesisLib.core.label_slices import richest_slice  # noqa: E402
from GANSynthesisLib.slicer.sample_data import SAMPLES, SampleCase, drawn_sample  # noqa: E402

ICONS = Path(__file__).resolve().parent.parent / "GANSynthesis" / "Resources" / "Icons"


def _grey(image: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip((image - low) / (high - low), 0.0, 1.0)


def render_thumbnail(case: SampleCase, path: Path) -> Path:
    """PNG (300 × 120 px): the sample's busiest axial slice, cropped to the body, as CT | MR (or CT again), the
    second panel with the segments outlined."""
    _, labels, segments = case.segmentation
    k = richest_slice(labels.array)
    rows, cols = np.nonzero(case.images["ct"][1].array[k] > -500)  # the body, cropped to fill the thumbnail
    crop = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    ct = _grey(case.images["ct"][1].array[k][crop], -350.0, 450.0)
    if "mr" in case.images:
        mr = case.images["mr"][1].array[k][crop]
        panels = [ct, _grey(mr, 0.0, float(np.percentile(mr, 99.5)))]
    else:
        panels = [ct, ct]
    figure, axes = plt.subplots(1, 2, figsize=(3.0, 1.2), dpi=100)
    for axis, panel in zip(axes, panels):
        axis.imshow(panel, cmap="gray", interpolation="bilinear")  # LPS rows and columns: radiological view
        axis.set_axis_off()
    for value, (_, colour) in segments.items():
        mask = labels.array[k][crop] == value
        if mask.any():
            axes[1].contour(mask, levels=[0.5], colors=[colour], linewidths=0.8)
    figure.subplots_adjust(0, 0, 1, 1, wspace=0.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, facecolor="black")
    plt.close(figure)
    return path


def render_all(folder: Path = ICONS) -> list[Path]:
    """Every sample's thumbnail, written under its file name into ``folder``."""
    return [render_thumbnail(drawn_sample(name), folder / sample.thumbnail) for name, sample in SAMPLES.items()]


if __name__ == "__main__":
    print("\n".join(str(p) for p in render_all(Path(sys.argv[1]) if len(sys.argv) > 1 else ICONS)))

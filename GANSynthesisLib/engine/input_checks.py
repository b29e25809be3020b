"""How a scalar input compares with the data a model was trained on.

Input intensities are normalised as the manifest says: a fixed window (CT, HU) or robust percentiles of
the volume (MR, arbitrary units). The input's intensity histogram and voxel size are compared with the
training data's, recorded in the manifest, and a warning says so when they differ a lot or when many voxels have
intensities the training data (almost) never had.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.errors import GANSynthesisError
from ..core.orientation import axial_view
from ..core.volume import Volume
from ..models.bundle import ModelBundle
from ..models.manifest import Normalisation
from .unit_range import to_unit_range

HISTOGRAM_BINS = 32
FOREGROUND_LEVEL = -0.9  # normalised intensities above this count as "inside the patient"
DEFAULT_WARN_DISTANCE = 0.3
SPACING_WARN_RATIO = 2.0  # voxels this many times larger or smaller than the training data's get a warning
UNSEEN_BIN_SHARE = 1e-4  # a histogram bin that held less than this share of the training voxels counts as unseen
UNSEEN_WARN_SHARE = 0.01  # more of the input's voxels than this in unseen bins get a warning


def input_range(array: np.ndarray, normalisation: Normalisation) -> tuple[float, float]:
    """The input intensities mapped to [-1, 1]: a fixed window, or the volume's robust percentiles."""
    if normalisation.type == "window":
        return float(normalisation.low), float(normalisation.high)
    low, high = np.percentile(array, [normalisation.low_percentile, normalisation.high_percentile])
    if not high > low:
        raise GANSynthesisError("The input volume is (nearly) constant; there is no image to translate.")
    return float(low), float(high)


def intensity_histogram(normalised: np.ndarray) -> np.ndarray:
    """Share of foreground voxels in each of HISTOGRAM_BINS bins over [-1, 1]."""
    values = normalised[normalised > FOREGROUND_LEVEL]
    counts, _ = np.histogram(np.clip(values, -1, 1), HISTOGRAM_BINS, (-1.0, 1.0))
    return counts / max(1, counts.sum())


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's (Wasserstein-1) distance between two histograms over [-1, 1], in normalised intensity
    units: how far, on average, intensities must move to turn one into the other. Small shifts (bias field,
    contrast) count little; another body region or modality counts a lot."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(np.cumsum(a) - np.cumsum(b)).sum() * 2.0 / len(a))


def normalised_input(array: np.ndarray, normalisation: Normalisation,
                     window: tuple[float, float] | None = None) -> np.ndarray:
    """The input in the network's [-1, 1] scale (clipped); ``window``: its :func:`input_range`, if known."""
    low, high = window or input_range(array, normalisation)
    return to_unit_range(torch.from_numpy(np.asarray(array, np.float32)), low, high).numpy()


def distribution_warning(histogram: np.ndarray, bundle: ModelBundle) -> str | None:
    """A sentence when the input's intensity histogram is far from the training data's, else None."""
    statistics = bundle.manifest.input.statistics
    distance = histogram_distance(histogram, statistics.histogram)
    limit = DEFAULT_WARN_DISTANCE if statistics.warn_distance is None else statistics.warn_distance
    if distance <= limit:
        return None
    return (f"The input's intensities look unlike the data model {bundle.name} was trained on "
            f"({statistics.data or 'its training data'}): intensity-histogram distance {distance:.2f} > {limit:.2f}. "
            "Check the input modality and body region; treat the result with extra care.")


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of every run of consecutive True values."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return list(zip(changes[::2].tolist(), changes[1::2].tolist()))


def unseen_intensity_warning(histogram: np.ndarray, window: tuple[float, float], bundle: ModelBundle) -> str | None:
    """A sentence when over UNSEEN_WARN_SHARE of the input's voxels have intensities (almost) absent from the
    training data, else None (``window``: the input's :func:`input_range`). The histograms can be close while this
    happens: partial volume at tissue edges puts a few per cent of a real scan's voxels where sharp-edged phantoms
    have none."""
    unseen = np.asarray(bundle.manifest.input.statistics.histogram) < UNSEEN_BIN_SHARE
    share = float(histogram[unseen].sum())
    if share <= UNSEEN_WARN_SHARE:
        return None
    edges = np.linspace(*window, HISTOGRAM_BINS + 1)
    unit = " HU" if bundle.manifest.input.normalisation.type == "window" else ""
    runs = [(float(histogram[start:stop].sum()), f"{edges[start]:.4g} to {edges[stop]:.4g}{unit}")
            for start, stop in _runs(unseen)]
    where = ", ".join(text for held, text in sorted(runs, reverse=True)[:2] if held > 0)
    return (f"{share:.1%} of the input's voxels have intensities that (almost) never occur in the data model "
            f"{bundle.name} was trained on (mostly {where}). Partial volume at tissue edges (real scans, finer voxels "
            "than the model's phantoms), another protocol or contrast, or a large abnormality does this; an anomaly "
            "heatmap then marks normal tissue too, and a translation is less reliable. Treat the result with extra "
            "care.")


def axial_voxel_size(volume: Volume) -> dict[str, float]:
    """In-plane pixel size (geometric mean of the two axes) and slice spacing of the volume's axial view, mm."""
    k, j, i = axial_view(volume).spacing_kji
    return {"in_plane": float(np.sqrt(j * i)), "slice": float(k)}


def spacing_warning(volume: Volume, bundle: ModelBundle) -> str | None:
    """A sentence when the input's voxels are over SPACING_WARN_RATIO times larger or smaller than the training
    data's (in-plane or between slices), else None."""
    statistics = bundle.manifest.input.statistics
    trained = statistics.voxel_spacing_mm if statistics else None
    if not trained:
        return None
    mine = axial_voxel_size(volume)
    if all(max(mine[axis] / trained[axis], trained[axis] / mine[axis]) <= SPACING_WARN_RATIO for axis in mine):
        return None
    return (f"The input's voxels ({mine['in_plane']:.3g} mm in-plane, {mine['slice']:.3g} mm slices) differ more than "
            f"{SPACING_WARN_RATIO:g}× in size from those model {bundle.name} was trained on ({trained['in_plane']:.3g} mm, "
            f"{trained['slice']:.3g} mm): edges, partial volume and noise look different at another resolution, so "
            "the result is less reliable (an anomaly heatmap marks more normal tissue). Treat it with extra care.")


def input_warnings(volume: Volume, bundle: ModelBundle) -> list[str]:
    """What makes the input unlike the model's training data (intensities, voxel size), one sentence each (about
    intensities: a distant histogram or, failing that, many unseen intensities)."""
    warnings = [spacing_warning(volume, bundle)]
    if bundle.manifest.input.statistics and bundle.manifest.input.statistics.histogram:
        normalisation = bundle.manifest.input.normalisation
        window = input_range(volume.array, normalisation)  # percentiles of the whole volume: computed once
        histogram = intensity_histogram(normalised_input(volume.array, normalisation, window))
        unlike = distribution_warning(histogram, bundle) or unseen_intensity_warning(histogram, window, bundle)
        warnings = [unlike, *warnings]
    return [warning for warning in warnings if warning]

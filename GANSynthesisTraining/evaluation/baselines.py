"""Plain baselines every model card reports beside the GAN, fitted on the training cases only."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from GANSynthesisLib.engine.input_checks import normalised_input
from GANSynthesisLib.evaluation.image_metrics import masked_psnr
from GANSynthesisLib.models.manifest import Normalisation
from GANSynthesisLib.tasks.anomaly.detection import body_mask, intensity_evidence
from GANSynthesisLib.tasks.anomaly.intensity_rarity import fit_intensity_rarity
from GANSynthesisTraining.data.paired_cases import PairedCase


class LabelMeanHU:
    """Each voxel gets the mean HU of its label (label 0 inside the body included) in the training cases."""

    name = "per-label mean HU"

    def __init__(self, cases: list[PairedCase], label_values: list[int]) -> None:
        self.means = {}
        for value in [0, *label_values]:
            voxels = np.concatenate([c.target.array[(c.source.array == value) & c.body] for c in cases])
            self.means[value] = float(voxels.mean()) if voxels.size else -1000.0

    def __call__(self, case: PairedCase) -> np.ndarray:
        out = np.full(case.source.array.shape, self.means[0], np.float32)
        for value, mean in self.means.items():
            out[case.source.array == value] = mean
        return out


class IntensityMapping:
    """Per-tissue intensity mapping: the normalised source intensity (in 64 bins) → the mean target HU of the
    training voxels in that bin (a histogram regression; needs no spatial context)."""

    name = "per-tissue intensity mapping"
    bins = 64

    def __init__(self, cases: list[PairedCase], normalisation: Normalisation) -> None:
        self.normalisation = normalisation
        sums, counts = np.zeros(self.bins), np.zeros(self.bins)
        for case in cases:
            index = self._bin(case)
            np.add.at(sums, index.ravel(), case.target.array.ravel())
            np.add.at(counts, index.ravel(), 1)
        filled = counts > 0
        self.table = np.interp(np.arange(self.bins), np.nonzero(filled)[0], sums[filled] / counts[filled])

    def _bin(self, case: PairedCase) -> np.ndarray:
        values = normalised_input(case.source.array, self.normalisation)
        return np.clip(((values + 1) / 2 * self.bins).astype(int), 0, self.bins - 1)

    def __call__(self, case: PairedCase) -> np.ndarray:
        return self.table[self._bin(case)].astype(np.float32)


class UnchangedInput:
    """The input itself (e.g. the low-dose CT scored against the normal-dose CT)."""

    name = "low-dose input"

    def __call__(self, case: PairedCase) -> np.ndarray:
        return case.source.array.astype(np.float32)


class GaussianDenoiser:
    """In-plane Gaussian smoothing with the σ (voxels) that gives the best PSNR on the training cases."""

    sigmas = (0.5, 0.75, 1.0, 1.5, 2.0)

    def __init__(self, cases: list[PairedCase]) -> None:
        scores = {s: np.mean([masked_psnr(c.target.array, self._smooth(c, s), c.body) for c in cases])
                  for s in self.sigmas}
        self.sigma = max(scores, key=scores.get)
        self.name = f"Gaussian filter (σ {self.sigma:g} voxel)"

    @staticmethod
    def _smooth(case: PairedCase, sigma: float) -> np.ndarray:
        return ndimage.gaussian_filter(case.source.array.astype(np.float32), (0, sigma, sigma))

    def __call__(self, case: PairedCase) -> np.ndarray:
        return self._smooth(case, self.sigma)


class IntensityRarity:
    """The intensity-threshold baseline for anomaly detection: a voxel scores by how rare its normalised
    intensity is in the bodies of the normal training volumes (−log of the histogram share, scaled to [0, 1]),
    so both unusually dark and unusually bright voxels stand out; smoothed like the model's heatmap."""

    name = "intensity threshold (rarity of the voxel's intensity in normal anatomy)"

    def __init__(self, volumes: list, normalisation: Normalisation, body_level: float, smoothing_mm: float) -> None:
        self.normalisation, self.body_level, self.smoothing_mm = normalisation, body_level, smoothing_mm
        bodies = []
        for volume in volumes:
            normalised = normalised_input(volume.array, normalisation)
            bodies.append(normalised[body_mask(normalised, volume, body_level)])
        self.rarity = fit_intensity_rarity(bodies)

    def __call__(self, volume) -> np.ndarray:
        normalised = normalised_input(volume.array, self.normalisation)
        body = body_mask(normalised, volume, self.body_level)
        return intensity_evidence(volume, normalised, body, self.rarity, self.smoothing_mm)

"""Paired training cases, and the generated phantoms that need no files (real data: ``volume_files``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.phantoms.modalities import low_dose_ct, render_mr
from GANSynthesisLib.phantoms.thorax import generate_phantom

PHANTOM_SOURCES = ("labels", "mr", "low-dose-ct")


@dataclass(frozen=True)
class PairedCase:
    """One case: a source (label map or image) and its target image (HU) on one grid, and the body mask."""

    case_id: str
    source: Volume
    target: Volume
    body: np.ndarray


def phantom_dose(seed: int) -> float:
    """Photons per ray of a phantom's low-dose scan: log-uniform over 2·10³–2·10⁴, so noise levels vary."""
    return float(np.exp(np.random.default_rng([seed, 3]).uniform(np.log(2e3), np.log(2e4))))


def phantom_cases(seeds: list[int], size: tuple[int, int, int] = (128, 128, 48),
                  spacing: tuple[float, float, float] = (3.0, 3.0, 3.0),
                  source: str = "labels", supersample: int = 1) -> list[PairedCase]:
    """Generated thorax phantoms, one per seed: labels, MR or low-dose CT → normal-dose CT (``supersample``: see
    :func:`~GANSynthesisLib.phantoms.thorax.generate_phantom`)."""
    if source not in PHANTOM_SOURCES:
        raise ValueError(f"unknown phantom source {source!r}; use one of {PHANTOM_SOURCES}")
    cases = []
    for seed in seeds:
        phantom = generate_phantom(seed, size, spacing, supersample)
        image = {"labels": lambda: phantom.labels, "mr": lambda: render_mr(phantom),
                 "low-dose-ct": lambda: low_dose_ct(phantom.ct, phantom_dose(seed), seed)}[source]()
        cases.append(PairedCase(f"phantom-{seed}", image, phantom.ct, phantom.body.array > 0))
    return cases

"""Low-dose CT pairs from real normal-dose CT by noise insertion in the projection domain (the AAPM/Mayo way).

Each axial slice (HU) becomes linear attenuation, is projected (parallel beam, ``skimage.transform.radon``), turned
into expected transmission counts at a fraction ``dose`` of the full-dose photons per ray, given Poisson photon noise
plus Gaussian electronic noise, and log-converted back to line integrals. The noisy and the noiseless sinograms are
reconstructed the same way (filtered back-projection, ramp filter), so the target is the same reconstruction without
the added noise: the network learns to remove the noise, not to undo the reconstruction.

The source scan already holds its own (normal-dose) noise; the inserted noise comes on top, so "100 % dose" here is
the source scan plus one more full-dose noise draw, and "noise off" reproduces the noiseless reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

WATER_ATTENUATION_PER_MM = 0.0192  # linear attenuation of water near 70 keV (as GANSynthesisLib.phantoms.modalities)
FULL_DOSE_PHOTONS = 1.0e5  # expected photons per ray (1.5 mm detector bin) at 100 % dose, unattenuated
ELECTRONIC_NOISE = 5.0  # standard deviation of the electronic (read-out) noise, in counts
ANGLES = 240  # views over 180° (parallel beam)
HU_FLOOR = -1024.0


@dataclass
class Projector:
    """Parallel-beam projection and filtered back-projection for slices of one size and pixel size (mm)."""

    shape: tuple[int, int]
    pixel_mm: float
    angles: int = ANGLES
    filter_name: str = "ramp"  # skimage.transform.iradon's reconstruction filter

    @property
    def theta(self) -> np.ndarray:
        return np.linspace(0.0, 180.0, self.angles, endpoint=False)

    def project(self, hu: np.ndarray) -> np.ndarray:
        """Line integrals of linear attenuation (dimensionless) of one slice in HU."""
        from skimage.transform import radon

        mu = np.clip(WATER_ATTENUATION_PER_MM * (1 + hu.astype(np.float64) / 1000), 0, None)
        return radon(mu, self.theta, circle=False) * self.pixel_mm

    def reconstruct(self, line_integrals: np.ndarray) -> np.ndarray:
        """Filtered back-projection of line integrals, in HU, cropped to the slice's shape."""
        from skimage.transform import iradon

        rows, cols = self.shape
        mu = iradon(line_integrals / self.pixel_mm, self.theta, output_size=max(rows, cols), circle=False,
                    filter_name=self.filter_name)
        top, left = (mu.shape[0] - rows) // 2, (mu.shape[1] - cols) // 2
        return (1000 * (mu[top:top + rows, left:left + cols] / WATER_ATTENUATION_PER_MM - 1)).astype(np.float32)


def noisy_line_integrals(line_integrals: np.ndarray, dose: float, rng: np.random.Generator,
                         full_dose_photons: float = FULL_DOSE_PHOTONS, electronic_noise: float = ELECTRONIC_NOISE,
                         noise: bool = True) -> np.ndarray:
    """Line integrals measured at ``dose`` (fraction of full dose): Poisson photon counts plus Gaussian electronic
    noise, clipped to at least one count, log-converted. With ``noise`` False the expected counts are used."""
    if not 0 < dose:
        raise ValueError(f"dose must be positive, not {dose}")
    blank = full_dose_photons * dose
    expected = blank * np.exp(-line_integrals)
    if not noise:
        counts = expected
    else:
        counts = rng.poisson(expected).astype(np.float64)
        if electronic_noise > 0:
            counts += electronic_noise * rng.standard_normal(counts.shape)
    return -np.log(np.maximum(counts, 1.0) / blank)


def low_dose_pair(hu: np.ndarray, pixel_mm: float, doses: list[float], rng: np.random.Generator,
                  noise: bool = True, projector: Projector | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """(noiseless reconstruction, [reconstruction at each dose]) of one axial slice in HU."""
    projector = projector or Projector(hu.shape, pixel_mm)
    clean_integrals = projector.project(np.maximum(hu, HU_FLOOR))
    target = projector.reconstruct(clean_integrals)
    noisy = [projector.reconstruct(noisy_line_integrals(clean_integrals, dose, rng, noise=noise)) for dose in doses]
    return target, noisy


def resample_slices(hu: np.ndarray, spacing_ji: tuple[float, float], pixel_mm: float) -> np.ndarray:
    """Axial slices (k, j, i) resampled in-plane to square pixels of ``pixel_mm`` (linear, anti-aliased when
    shrinking)."""
    zoom = (1.0, spacing_ji[0] / pixel_mm, spacing_ji[1] / pixel_mm)
    source = hu.astype(np.float32)
    if min(zoom[1:]) < 1:  # anti-alias before shrinking
        sigma = [0.0] + [max(0.0, 0.5 * (1 / z - 1)) for z in zoom[1:]]
        source = ndimage.gaussian_filter(source, sigma)
    return ndimage.zoom(source, zoom, order=1).astype(np.float32)


def noise_std_in_flat_regions(image: np.ndarray, reference: np.ndarray, window: int = 7,
                              flatness_hu: float = 12.0, low: float = -200.0, high: float = 300.0) -> float:
    """Standard deviation (HU) of ``image`` − local mean in flat soft-tissue regions of ``reference``: pixels whose
    7×7 neighbourhood in the reference varies less than ``flatness_hu`` and lies within [low, high] HU."""
    reference = reference.astype(np.float64)
    image = image.astype(np.float64)
    axes = (window,) * reference.ndim if reference.ndim == 2 else (1, window, window)
    mean = ndimage.uniform_filter(reference, axes)
    std = np.sqrt(np.maximum(ndimage.uniform_filter(reference**2, axes) - mean**2, 0))
    flat = (std < flatness_hu) & (mean > low) & (mean < high)
    if flat.sum() < 50:
        return float("nan")
    residual = image - ndimage.uniform_filter(image, axes)
    return float(residual[flat].std() * np.sqrt(window**2 / (window**2 - 1)))

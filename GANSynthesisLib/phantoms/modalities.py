"""The phantom's anatomy in other modalities: T1-weighted MR-like images and low-dose CT.

Both derive from a :class:`~GANSynthesisLib.phantoms.thorax.Phantom` (its tissue map and normal-dose CT) with
their own random streams, so the CT of a seed is the same whichever modality is also rendered.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.volume import Volume
from .thorax import Phantom, Tissue, smooth_field

# T1-weighted spin-echo-like signal (arbitrary units, fat = 1): fat and fatty marrow bright, cortical
# bone and air dark, flowing blood darker than myocardium.
T1_SIGNAL = {
    Tissue.AIR: 0.0, Tissue.FAT: 1.0, Tissue.MUSCLE: 0.38, Tissue.LUNG: 0.04, Tissue.CORTICAL_BONE: 0.05,
    Tissue.MARROW: 0.78, Tissue.BLOOD_LEFT: 0.16, Tissue.BLOOD_RIGHT: 0.2, Tissue.MYOCARDIUM: 0.42,
    Tissue.SOFT_TISSUE: 0.5, Tissue.LUNG_VESSEL: 0.12,
}
MR_SCALE = 1000.0  # signal of fat in output units
WATER_ATTENUATION_PER_MM = 0.0192  # linear attenuation of water near 70 keV


def render_mr(phantom: Phantom) -> Volume:
    """A T1-weighted MR-like volume: tissue contrast, texture, blur and partial volume (from the phantom's fine
    tissue map), smooth bias field, Rician noise."""
    rng = np.random.default_rng([phantom.seed, 1])
    tissues = phantom.fine_tissues.array
    fine_spacing_kji = phantom.fine_tissues.spacing[::-1]
    lookup = np.zeros(len(Tissue), np.float32)
    for tissue, signal in T1_SIGNAL.items():
        lookup[tissue] = signal * rng.uniform(0.92, 1.08) if signal else 0.0
    signal = lookup[tissues] * (1 + 0.04 * smooth_field(tissues.shape, fine_spacing_kji, 6.0, rng))
    signal = phantom.block_means(ndimage.gaussian_filter(signal, [0.9 / s for s in fine_spacing_kji]))
    bias = np.exp(rng.uniform(0.12, 0.25) * smooth_field(signal.shape, phantom.tissues.spacing[::-1], 150.0, rng))
    sigma = rng.uniform(0.015, 0.03)
    real = signal * bias + sigma * rng.standard_normal(signal.shape).astype(np.float32)
    imaginary = sigma * rng.standard_normal(signal.shape).astype(np.float32)
    return phantom.tissues.with_array((np.sqrt(real**2 + imaginary**2) * MR_SCALE).astype(np.float32))


def low_dose_ct(ct: Volume, photons_per_ray: float = 5e3, seed: int = 0, angles: int = 180) -> Volume:
    """The CT at lower dose: Poisson noise added to its sinogram, reconstructed by filtered back-projection.

    Slice by slice (parallel beam): the noise-free and the noisy line integrals differ only by the
    photon noise; its filtered back-projection is added to the CT, so anatomy stays where it was.
    """
    from skimage.transform import iradon, radon

    rng = np.random.default_rng([seed, 2])
    theta = np.linspace(0.0, 180.0, angles, endpoint=False)
    pixel_mm = float(np.mean(ct.spacing[:2]))
    noisy = np.empty_like(ct.array, dtype=np.float32)
    for k, image in enumerate(ct.array):
        mu = np.clip(WATER_ATTENUATION_PER_MM * (1 + image.astype(np.float64) / 1000), 0, None)
        line_integrals = radon(mu, theta, circle=False) * pixel_mm
        counts = rng.poisson(photons_per_ray * np.exp(-line_integrals))
        noisy_integrals = -np.log(np.maximum(counts, 1) / photons_per_ray)
        noise_mu = iradon(noisy_integrals - line_integrals, theta, output_size=max(image.shape), circle=False,
                          filter_name="ramp") / pixel_mm
        rows, cols = image.shape
        top, left = (noise_mu.shape[0] - rows) // 2, (noise_mu.shape[1] - cols) // 2
        noise_hu = 1000 * noise_mu[top:top + rows, left:left + cols] / WATER_ATTENUATION_PER_MM
        noisy[k] = image + noise_hu
    return ct.with_array(np.clip(noisy, -1024, 3071).astype(np.float32))

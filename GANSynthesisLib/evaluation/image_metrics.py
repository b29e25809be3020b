"""Image similarity the way the SynthRAD2023 challenge scores synthetic CT.

- MAE: mean |reference − synthetic| inside the mask (HU).
- PSNR: both images clipped to [-1024, 3000] HU, data range 4024, over the mask voxels.
- SSIM: both clipped, voxels outside the mask set to -1024, shifted to be non-negative, SSIM map
  with a 7-voxel uniform window (K1 0.01, K2 0.03, sample covariance), averaged over the mask after
  cropping 3 voxels from every border. Volumes thinner than the window are scored slice by slice.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..core.regions import largest_region

HU_RANGE = (-1024.0, 3000.0)
SSIM_WINDOW = 7


def _mask_or_all(reference: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return np.ones(reference.shape, bool)
    if mask.shape != reference.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {reference.shape}")
    mask = mask > 0
    if not mask.any():
        raise ValueError("the mask is empty; metrics need at least one voxel inside it")
    return mask


def masked_mae(reference: np.ndarray, synthetic: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute error (HU) inside the mask."""
    mask = _mask_or_all(reference, mask)
    return float(np.abs(reference.astype(np.float64)[mask] - synthetic.astype(np.float64)[mask]).mean())


def masked_psnr(reference: np.ndarray, synthetic: np.ndarray, mask: np.ndarray | None = None,
                hu_range: tuple[float, float] = HU_RANGE) -> float:
    """PSNR (dB) of the clipped images over the mask voxels, data range high − low."""
    mask = _mask_or_all(reference, mask)
    ref = np.clip(reference.astype(np.float64), *hu_range)[mask]
    syn = np.clip(synthetic.astype(np.float64), *hu_range)[mask]
    mse = np.mean((ref - syn) ** 2)
    if mse == 0:
        return float("inf")
    return float(10 * np.log10((hu_range[1] - hu_range[0]) ** 2 / mse))


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float, window: int = SSIM_WINDOW) -> np.ndarray:
    """Per-voxel SSIM with a uniform window over every axis (sample covariance)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    n = window**a.ndim
    cov_norm = n / (n - 1)
    mean_a, mean_b = (ndimage.uniform_filter(x, window) for x in (a, b))
    var_a = cov_norm * (ndimage.uniform_filter(a * a, window) - mean_a**2)
    var_b = cov_norm * (ndimage.uniform_filter(b * b, window) - mean_b**2)
    cov = cov_norm * (ndimage.uniform_filter(a * b, window) - mean_a * mean_b)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mean_a * mean_b + c1) * (2 * cov + c2)) / ((mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2))


def masked_ssim(reference: np.ndarray, synthetic: np.ndarray, mask: np.ndarray | None = None,
                hu_range: tuple[float, float] = HU_RANGE) -> float:
    """SSIM of the clipped, background-filled, shifted images averaged over the mask (borders cropped)."""
    mask = _mask_or_all(reference, mask)
    low, high = hu_range
    ref = np.where(mask, np.clip(reference, low, high), low) - low
    syn = np.where(mask, np.clip(synthetic, low, high), low) - low
    pad = (SSIM_WINDOW - 1) // 2
    if min(ref.shape) < SSIM_WINDOW:  # too thin for a 3-D window: score each slice in 2-D
        maps = np.stack([ssim_map(r, s, high - low) for r, s in zip(ref, syn)])
        inner = (slice(None), slice(pad, -pad), slice(pad, -pad))
    else:
        maps = ssim_map(ref, syn, high - low)
        inner = tuple(slice(pad, -pad) for _ in ref.shape)
    scored = maps[inner][mask[inner]]
    return float(scored.mean(dtype=np.float64)) if scored.size else math.nan  # no mask voxel away from the border


def image_metrics(reference: np.ndarray, synthetic: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """{'mae': HU, 'psnr': dB, 'ssim': 0..1} as SynthRAD2023 scores them."""
    return {
        "mae": masked_mae(reference, synthetic, mask),
        "psnr": masked_psnr(reference, synthetic, mask),
        "ssim": masked_ssim(reference, synthetic, mask),
    }


def body_mask_from_ct(ct: np.ndarray, threshold: float = -500.0) -> np.ndarray:
    """The patient's body in a CT: the largest connected region above ``threshold`` HU, holes filled per slice."""
    body = largest_region(ct > threshold)
    return np.stack([ndimage.binary_fill_holes(s) for s in body])

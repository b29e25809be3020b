"""Projection-domain noise insertion and the real-CT low-dose denoiser bundle (through the translate path)."""

from __future__ import annotations

import numpy as np
import pytest

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.evaluation.image_metrics import body_mask_from_ct, masked_psnr
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.models.registry import BUNDLED_MODELS_DIR
from GANSynthesisLib.tasks.translation.image_translation import translate
from GANSynthesisTraining.data.lowdose_pairs import read_axial_hu
from GANSynthesisTraining.data.noise_insertion import (Projector, low_dose_pair, noise_std_in_flat_regions,
                                                        noisy_line_integrals, resample_slices)

BUNDLE = BUNDLED_MODELS_DIR / "lowdose-ct-real"


def disc_phantom(size: int = 64) -> np.ndarray:
    """A water disc with a denser insert and a lung-like hole, in HU, on air."""
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    image = np.full((size, size), -1000.0, np.float32)
    image[x**2 + y**2 < (0.42 * size) ** 2] = 40.0
    image[(x - 0.15 * size) ** 2 + y**2 < (0.1 * size) ** 2] = 300.0
    image[(x + 0.18 * size) ** 2 + y**2 < (0.1 * size) ** 2] = -800.0
    return image


def test_noise_grows_as_dose_falls():
    image = disc_phantom()
    target, noisy = low_dose_pair(image, 1.5, [1.0, 0.25, 0.05], np.random.default_rng(0))
    stds = [noise_std_in_flat_regions(n, target) for n in noisy]
    errors = [np.abs(n - target).mean() for n in noisy]
    assert stds[0] < stds[1] < stds[2]
    assert errors[0] < errors[1] < errors[2]
    assert stds[0] > 1.0  # noise was inserted at full dose too


def test_full_dose_without_noise_reproduces_the_noiseless_reconstruction():
    image = disc_phantom()
    target, (same,) = low_dose_pair(image, 1.5, [1.0], np.random.default_rng(0), noise=False)
    np.testing.assert_allclose(same, target, atol=1e-3)
    # and the noiseless reconstruction is close to the image it came from inside the disc (the simulation is sane)
    inside = disc_phantom() == 40.0
    assert abs(float(np.median(target[inside])) - 40.0) < 10.0


def real_crop(pixel_mm: float | None = 1.5) -> np.ndarray | None:
    """A 144 mm square crop (``pixel_mm`` pixels, None: the scan's own; HU) of a held-out chest-CT slice, or None
    when the real data are absent."""
    try:
        hu, spacing = read_axial_hu("chest")
    except GANSynthesisError:
        return None
    pixel_mm = pixel_mm or spacing[0]
    image = resample_slices(hu[40:41], spacing, pixel_mm)[0]
    rows, cols, half = *image.shape, int(round(72 / pixel_mm))
    return image[rows // 2 - half:rows // 2 + half, cols // 2 - half:cols // 2 + half]


@pytest.mark.skipif(not (BUNDLE / "model.json").exists(), reason="lowdose-ct-real bundle not exported")
def test_real_ct_denoiser_improves_a_noisy_real_crop_through_translate():
    bundle = load_bundle(BUNDLE)
    assert bundle.task == "translate"
    crop = real_crop()
    if crop is None:
        pytest.skip("real CT files not available")
    projector = Projector(crop.shape, 1.5)
    target, (noisy,) = low_dose_pair(crop, 1.5, [0.25], np.random.default_rng(5), projector=projector)
    options = InferenceOptions(device="cpu", threads=2)
    denoised, _ = translate(Volume(noisy[None], spacing=(1.5, 1.5, 5.0)), bundle, options)
    body = body_mask_from_ct(target[None])
    assert masked_psnr(target[None], denoised.array, body) > masked_psnr(target[None], noisy[None], body) + 0.5
    # a clean input is left almost alone
    kept, _ = translate(Volume(target[None].copy(), spacing=(1.5, 1.5, 5.0)), bundle, options)
    assert masked_psnr(target[None], kept.array, body) > masked_psnr(target[None], noisy[None], body) + 3.0


@pytest.mark.skipif(not (BUNDLE / "model.json").exists(), reason="lowdose-ct-real bundle not exported")
def test_real_ct_denoiser_also_improves_a_crop_made_low_dose_by_another_simulation():
    """The scan's own 0.57 mm pixels, 360 views, 2·10⁴ photons per ray, no electronic noise, Shepp-Logan filter:
    none of it as in training."""
    crop = real_crop(pixel_mm=None)
    if crop is None:
        pytest.skip("real CT files not available")
    pixel = read_axial_hu("chest")[1][0]
    projector = Projector(crop.shape, pixel, angles=360, filter_name="shepp-logan")
    clean = projector.project(np.maximum(crop, -1024.0))
    target = projector.reconstruct(clean)
    noisy = projector.reconstruct(noisy_line_integrals(clean, 1.0, np.random.default_rng(3), full_dose_photons=2e4,
                                                       electronic_noise=0.0))
    denoised, _ = translate(Volume(noisy[None], spacing=(pixel, pixel, 5.0)), load_bundle(BUNDLE),
                            InferenceOptions(device="cpu", threads=2))
    body = body_mask_from_ct(target[None])
    assert masked_psnr(target[None], denoised.array, body) > masked_psnr(target[None], noisy[None], body) + 0.5
    assert np.abs(denoised.array - target)[body].mean() < np.abs(noisy[None] - target)[body].mean()

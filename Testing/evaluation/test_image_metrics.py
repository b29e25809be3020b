import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.util import crop

from GANSynthesisLib.evaluation.image_metrics import body_mask_from_ct, masked_mae, masked_psnr, masked_ssim

LOW, HIGH = -1024.0, 3000.0


@pytest.fixture
def images():
    rng = np.random.default_rng(5)
    reference = rng.normal(0, 400, (16, 24, 20)) + np.linspace(-1500, 3500, 20)
    synthetic = reference + rng.normal(0, 120, reference.shape)
    mask = np.zeros(reference.shape, bool)
    mask[2:14, 4:20, 3:18] = True
    return reference, synthetic, mask


def test_mae_is_the_masked_mean_absolute_difference(images):
    reference, synthetic, mask = images
    assert masked_mae(reference, synthetic, mask) == pytest.approx(np.abs(reference - synthetic)[mask].mean())


def test_psnr_matches_skimage_on_clipped_masked_voxels(images):
    reference, synthetic, mask = images
    expected = peak_signal_noise_ratio(np.clip(reference, LOW, HIGH)[mask], np.clip(synthetic, LOW, HIGH)[mask],
                                       data_range=HIGH - LOW)
    assert masked_psnr(reference, synthetic, mask) == pytest.approx(expected, rel=1e-10)


def test_ssim_matches_skimage_the_synthrad_way(images):
    reference, synthetic, mask = images
    ref = np.where(mask, np.clip(reference, LOW, HIGH), LOW) - LOW
    syn = np.where(mask, np.clip(synthetic, LOW, HIGH), LOW) - LOW
    _, full = structural_similarity(ref, syn, data_range=HIGH - LOW, full=True)
    expected = crop(full, 3)[crop(mask, 3)].mean()
    assert masked_ssim(reference, synthetic, mask) == pytest.approx(expected, rel=1e-10)


def test_ssim_without_mask_matches_skimage_mean(images):
    reference, synthetic, _ = images
    ref, syn = np.clip(reference, LOW, HIGH) - LOW, np.clip(synthetic, LOW, HIGH) - LOW
    assert masked_ssim(reference, synthetic) == pytest.approx(structural_similarity(ref, syn, data_range=HIGH - LOW),
                                                              rel=1e-10)


def test_identical_images_score_perfectly(images):
    reference, _, mask = images
    assert masked_mae(reference, reference, mask) == 0
    assert masked_psnr(reference, reference, mask) == float("inf")
    assert masked_ssim(reference, reference, mask) == pytest.approx(1.0)


def test_thin_volume_is_scored_per_slice():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 300, (1, 30, 30))
    synthetic = reference + 50
    value = masked_ssim(reference, synthetic)
    _, full = structural_similarity(np.clip(reference[0], LOW, HIGH) - LOW, np.clip(synthetic[0], LOW, HIGH) - LOW,
                                    data_range=HIGH - LOW, full=True)
    assert value == pytest.approx(crop(full, 3).mean(), rel=1e-10)


def test_empty_mask_is_refused(images):
    reference, synthetic, mask = images
    with pytest.raises(ValueError, match="empty"):
        masked_mae(reference, synthetic, np.zeros_like(mask))


def test_body_mask_keeps_the_body_and_fills_the_lungs():
    ct = np.full((3, 40, 40), -1000.0)
    yy, xx = np.mgrid[:40, :40]
    ct[:, (yy - 20) ** 2 + (xx - 20) ** 2 <= 15**2] = 40.0
    ct[:, (yy - 20) ** 2 + (xx - 14) ** 2 <= 4**2] = -850.0  # a lung inside the body
    ct[:, 0:2, 0:2] = 100.0  # a speck of table outside
    body = body_mask_from_ct(ct)
    assert body[:, 20, 14].all() and not body[:, 0, 0].any()

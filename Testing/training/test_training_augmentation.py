"""On-device batch augmentation: flips, rotations and scalings keep sources and targets paired, fills are the
background, intensity jitter touches inputs only, and every trainer takes the flags."""

import json

import pytest
import torch

from GANSynthesisLib.models.manifest import Normalisation
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.tasks.synthesis.labels_to_ct import one_hot_labels
from GANSynthesisTraining.data.augmentation import IMAGE, LABELS, Augmentation
from GANSynthesisTraining.data.paired_cases import phantom_cases
from GANSynthesisTraining.data.slice_banks import NormalisedImage, SliceBank
from GANSynthesisTraining.data.tile_banks import TileBank
from GANSynthesisTraining.families.cyclegan.model import CycleGANConfig, CycleGANTrainer
from GANSynthesisTraining.families.pix2pix import synthesis

from support import TINY_PIX2PIX as TINY

TISSUE_VALUE = torch.tensor([-1.0, -0.4, 0.2, 0.8])  # target value of each label (0 = background = the fill)


def seeded(seed: int = 5) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def block_bank():
    """Label maps of 8×8 blocks (labels 0–3) with a target that is a known value per label."""
    labels = torch.randint(4, (16, 8, 8), generator=seeded(1)).repeat_interleave(8, 1).repeat_interleave(8, 2)
    sources = one_hot_labels(labels.numpy(), [1, 2, 3], torch.device("cpu"))
    return SliceBank(sources.half(), TISSUE_VALUE[labels][:, None].half(), LABELS)


def test_augmentation_is_off_by_default_and_batches_pass_unchanged(phantom_slice_bank):
    plain = phantom_slice_bank.sample(8, seeded())
    again = phantom_slice_bank.sample(8, seeded(), Augmentation())
    assert not Augmentation().active
    for a, b in zip(plain, again):
        assert torch.equal(a, b)


def test_flips_mirror_source_and_target_together(phantom_slice_bank):
    plain = phantom_slice_bank.sample(16, seeded())
    flipped = phantom_slice_bank.sample(16, seeded(), Augmentation(flip=True))
    mirrored = 0
    for i in range(16):
        same = torch.allclose(flipped[1][i], plain[1][i], atol=1e-5)
        mirror = torch.allclose(flipped[1][i], plain[1][i].flip(-1), atol=1e-5)
        assert same or mirror
        expected_source = plain[0][i].flip(-1) if mirror and not same else plain[0][i]
        assert torch.equal(flipped[0][i], expected_source)
        mirrored += mirror and not same
    assert 0 < mirrored < 16


def uniform_neighbourhood(label: torch.Tensor) -> torch.Tensor:
    """(B, H, W) integer map → where all 3×3 neighbours hold the pixel's own value."""
    batch, height, width = label.shape
    neighbours = torch.nn.functional.unfold(label[:, None].float(), 3, padding=1).view(batch, 9, height, width)
    return (neighbours == label[:, None].float()).all(1)


def test_rotation_and_scaling_keep_labels_one_hot_and_paired_with_their_target(block_bank):
    plain_source, _ = block_bank.sample(16, seeded())
    source, target = block_bank.sample(16, seeded(), Augmentation(flip=True, rotation_deg=30, scaling=0.3))
    assert set(source.unique().tolist()) == {0.0, 1.0} and torch.equal(source.sum(1), torch.ones_like(source[:, 0]))
    label = source.argmax(1)
    assert (label != plain_source.argmax(1)).float().mean() > 0.2  # really moved
    # Away from label edges the target is the value of the label drawn there.
    interior = uniform_neighbourhood(label)
    error = (target[:, 0] - TISSUE_VALUE[label]).abs()[interior]
    assert interior.float().mean() > 0.5
    assert (error < 1e-3).float().mean() > 0.99


def test_what_comes_from_outside_the_slice_is_background_and_air():
    everywhere = torch.ones(8, 64, 64, dtype=torch.int64)  # label 1 fills every slice
    bank = SliceBank(one_hot_labels(everywhere.numpy(), [1], torch.device("cpu")), torch.full((8, 1, 64, 64), 0.5),
                     LABELS)
    source, target = bank.sample(8, seeded(), Augmentation(rotation_deg=45, scaling=0.3))
    background = (source[:, 0] == 1).long()
    assert 0 < background.float().mean() < 0.5
    interior = uniform_neighbourhood(background)
    assert torch.all(target[:, 0][interior & (background == 1)] == -1)
    assert torch.allclose(target[:, 0][interior & (background == 0)], torch.tensor(0.5))


def test_intensity_jitter_changes_image_inputs_only_by_a_gain_and_offset_per_sample(phantom_slice_bank):
    cases = phantom_cases([1], (64, 64, 6), (6.0, 6.0, 6.0), source="mr")
    percentiles = NormalisedImage(Normalisation("percentile", low_percentile=0.5, high_percentile=99.5))
    bank = SliceBank.from_cases(cases, percentiles, 6.0, 64, (-1024.0, 2000.0))
    assert bank.source_kind == IMAGE
    plain_source, plain_target = bank.sample(8, seeded())
    source, target = bank.sample(8, seeded(), Augmentation(intensity_jitter=0.1))
    assert torch.equal(target, plain_target)
    gains = []
    for before, after in zip(plain_source, source):
        x, y = before.flatten() + 1, after.flatten() + 1
        design = torch.stack([x, torch.ones_like(x)], 1)
        gain, offset = torch.linalg.lstsq(design, y[:, None]).solution.flatten()
        assert torch.allclose(design @ torch.stack([gain, offset]), y, atol=1e-4)
        assert abs(gain - 1) <= 0.1 and abs(offset) <= 0.1 + 1e-6
        gains.append(float(gain))
    assert max(gains) - min(gains) > 0.02  # drawn per sample
    with pytest.raises(ValueError, match="--intensity-jitter changes image inputs"):
        phantom_slice_bank.sample(8, seeded(), Augmentation(intensity_jitter=0.1))  # label map input: nothing to jitter


def test_anomaly_tiles_are_augmented_on_their_way_out():
    slices = torch.linspace(-1, 1, 64).repeat(4, 1, 64, 1)  # a horizontal ramp: flips reverse it
    bank = TileBank(slices, 32, torch.device("cpu"))
    plain = bank.sample(16, seeded())
    flipped = bank.sample(16, seeded(), Augmentation(flip=True))
    slope = (flipped[..., -1] - flipped[..., 0]).mean((1, 2))
    assert (slope < 0).any() and (slope > 0).any() and ((plain[..., -1] - plain[..., 0]) > 0).all()


@pytest.mark.parametrize("settings, message", [(dict(rotation_deg=90), "--rotation-deg"),
                                               (dict(scaling=-0.1), "--scaling"),
                                               (dict(intensity_jitter=0.8), "--intensity-jitter")])
def test_out_of_range_settings_are_refused_with_the_flag_named(settings, message):
    with pytest.raises(ValueError, match=message):
        Augmentation(**settings)


def test_cyclegan_refuses_intensity_jitter(tmp_path):
    domain = torch.zeros(4, 1, 32, 32)
    with pytest.raises(ValueError, match="without --intensity-jitter"):
        CycleGANTrainer(CycleGANConfig(intensity_jitter=0.05), domain, domain, tmp_path)


def test_training_takes_the_augmentation_flags_and_the_model_card_states_them(tmp_path):
    run, export = tmp_path / "run", tmp_path / "bundle"
    synthesis.main(TINY + ["--steps", "2", "--snapshot-steps", "--run-dir", str(run), "--flip",
                                 "--rotation-deg", "10", "--scaling", "0.1", "--export", str(export)])
    config = json.loads((run / "config.json").read_text())
    recorded = [config[name] for name in ("flip", "rotation_deg", "scaling", "intensity_jitter")]
    assert recorded == [True, 10.0, 0.1, 0.0]
    summary = load_bundle(export).manifest.training["summary"]
    assert "augmented per sample: left-right flips, rotation within ±10°, zoom within ±10 %" in summary
    assert "augmented" in (export / "README.md").read_text()


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="unknown kinds"):
        Augmentation(flip=True)([torch.zeros(1, 1, 4, 4)], ["mask"], seeded())

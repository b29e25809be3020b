"""Whole-body training data: phantoms in the whole-body classes, CT-like noise, threshold label maps, label variants,
packed-code bank, and the evaluation metrics."""

import numpy as np
import pytest
import torch

from GANSynthesisLib.anatomy.wholebody_classes import CLASS_INDEX, INPUT_CHANNELS, centre_classes, given_classes
from GANSynthesisLib.phantoms.wholebody import ct_noise, generate_wholebody_phantom
from GANSynthesisTraining.data.real_normal_ct import real_normal_ct_present
from GANSynthesisTraining.data.wholebody_data import packed, threshold_classes, to_model_grid, variant
from GANSynthesisTraining.evaluation.wholebody_evaluation import body_mae, histogram_emd, roughness
from GANSynthesisTraining.families.pix2pix.wholebody import CodeBank

C = CLASS_INDEX


def test_phantom_has_the_whole_body_anatomy():
    p = generate_wholebody_phantom(3, size=(96, 96, 24), spacing=(4.0, 4.0, 4.0))
    given = given_classes(p.classes.array)
    assert {"fat", "soft tissue", "lung", "bone", "airway", "myocardium", "cardiac blood pool", "artery"} <= given
    ct, classes = p.ct.array, p.classes.array
    assert ct[classes == C["lung"]].mean() < -600
    assert ct[classes == C["bone"]].mean() > 250
    assert ct[classes == C["cardiac blood pool"]].mean() > 150
    assert ct[classes == C["fat"]].mean() < -40
    assert ct[classes == 0].mean() < -900


def test_ct_noise_is_correlated_in_plane_and_scaled():
    rng = np.random.default_rng(0)
    noise = ct_noise((4, 64, 64), (3.0, 1.0, 1.0), rng, 20.0, 0.5)
    assert abs(noise.std() - 20.0) < 1.0
    neighbour = np.corrcoef(noise[:, :, :-1].ravel(), noise[:, :, 1:].ravel())[0, 1]
    white = np.random.default_rng(1).standard_normal((4, 64, 64))
    assert abs(neighbour) > 0.1 > abs(np.corrcoef(white[:, :, :-1].ravel(), white[:, :, 1:].ravel())[0, 1])


def test_threshold_classes_of_a_drawn_ct():
    hu = np.full((6, 60, 60), -1000.0, np.float32)
    yy, xx = np.mgrid[:60, :60]
    body = (yy - 30) ** 2 / 26**2 + (xx - 30) ** 2 / 26**2 <= 1
    hu[:, body] = -100  # fat
    hu[:, (yy - 30) ** 2 + (xx - 30) ** 2 <= 18**2] = 40  # muscle
    hu[:, (yy - 30) ** 2 + (xx - 18) ** 2 <= 8**2] = -850  # lung
    hu[:, (yy - 40) ** 2 + (xx - 38) ** 2 <= 4**2] = 900  # bone
    hu[:, (yy - 22) ** 2 + (xx - 38) ** 2 <= 3**2] = 350  # contrast vessel
    classes = threshold_classes(hu, (5.0, 5.0, 5.0))
    assert classes[3, 30, 18] == C["lung"]
    assert classes[3, 40, 38] == C["bone"]
    assert classes[3, 22, 38] == C["artery"]
    assert classes[3, 30, 30] == C["soft tissue"]
    assert classes[3, 30, 52] == C["fat"]
    assert classes[3, 1, 1] == 0


def test_variants_drop_what_users_lack():
    classes = np.array([C["fat"], C["soft tissue"], C["myocardium"], C["cardiac blood pool"], C["body"], C["lung"]],
                       np.uint8)
    assert variant(classes, "totalsegmentator").tolist() == [C["body"], C["body"], C["heart"], C["heart"], C["body"],
                                                              C["lung"]]
    assert variant(classes, "no body").tolist() == [0, 0, C["heart"], C["heart"], 0, C["lung"]]
    assert variant(classes, "full").tolist() == classes.tolist()


def test_code_bank_batches():
    p = generate_wholebody_phantom(1, size=(64, 64, 8), spacing=(6.0, 6.0, 3.0))
    hu, codes = to_model_grid(p.ct.array, packed(p.classes.array), (3.0, 6.0, 6.0), 3.0, 160)
    assert hu.shape == codes.shape == (8, 160, 160)
    assert codes[:, 0, 0].max() == 0 and hu[:, 0, 0].max() == -1024  # canvas padding
    bank = CodeBank(torch.from_numpy(codes), torch.from_numpy(((hu + 1024) / 1512 - 1).astype(np.float16))[:, None],
                    crop=64)
    x, y = bank.sample(4, torch.Generator().manual_seed(0))
    assert x.shape == (4, INPUT_CHANNELS, 64, 64) and y.shape == (4, 1, 64, 64)
    assert torch.allclose(x[:, :45].sum(1), torch.full((4, 64, 64), 3.0))


def test_metrics():
    real = np.zeros((3, 10, 10), np.float32)
    real[1] = 10
    body = np.ones_like(real, bool)
    assert body_mae(real + 5, real, body) == 5
    assert abs(histogram_emd(real + 5, real, body) - 5) < 1e-6
    assert roughness(real, body, (1.0, 1.0, 1.0)) > 0
    assert roughness(np.zeros_like(real), body, (1.0, 1.0, 1.0)) == 0


def test_a_run_starts_from_a_bundles_generator_and_refuses_another_architecture(tiny_wholebody_bundle_dir, tmp_path):
    from GANSynthesisLib.core.errors import GANSynthesisError
    from GANSynthesisLib.models.bundle import load_bundle
    from GANSynthesisTraining.families.pix2pix.model import Pix2PixConfig, Pix2PixTrainer
    from GANSynthesisTraining.families.pix2pix.wholebody import initialise_generator

    codes = torch.zeros((2, 64, 64), dtype=torch.int32)
    bank = CodeBank(codes, torch.zeros((2, 1, 64, 64), dtype=torch.float16), crop=32)
    config = Pix2PixConfig(g_base_width=8, g_depth=3, g_max_width=16, g_dropout=0.5, ema_decay=0.99, steps=1)
    trainer = Pix2PixTrainer(config, bank, tmp_path / "run")
    said = initialise_generator(trainer, tiny_wholebody_bundle_dir)
    assert said.startswith("tiny-wholebody")
    weights = load_bundle(tiny_wholebody_bundle_dir).load_weights("generator")
    for name, value in trainer.generator.state_dict().items():
        assert torch.equal(value.float(), weights[name].float()), name
    assert all(torch.equal(a, b) for a, b in zip(trainer.ema.average.parameters(), trainer.generator.parameters()))
    other = Pix2PixTrainer(Pix2PixConfig(g_base_width=16, g_depth=3, g_max_width=16, steps=1), bank, tmp_path / "o")
    with pytest.raises(GANSynthesisError, match="--g-base-width"):
        initialise_generator(other, tiny_wholebody_bundle_dir)


@pytest.mark.skipif(not real_normal_ct_present(), reason="the real CTs of ../shared/data are absent")
def test_a_heart_only_run_makes_a_cardiac_model_that_leaves_other_structures_out(tmp_path):
    """--variants 'heart only': phantoms' cardiac structures and lung1's contrast-filled vessels, nothing else; the
    exported model takes the heart classes only and says what it left out."""
    from GANSynthesisLib.engine.inference import InferenceOptions
    from GANSynthesisLib.models.bundle import load_bundle
    from GANSynthesisLib.tasks.catalogue import get_task
    from GANSynthesisTraining.families.pix2pix.wholebody import HEART_CLASSES, build_bank, main

    from support import ts_labelmap

    bank, summary = build_bank(1, 6.0, 64, 32, 0, phantom_size=(64, 64, 6), variants=["heart only"])
    given = np.unique(centre_classes(bank.codes.numpy()))
    assert set(given) <= {0, *(C[name] for name in HEART_CLASSES)} and C["artery"] in given
    assert list(summary["real_slices"]) == ["lung1"]
    assert main(["--phantoms", "1", "--variants", "heart only", "--spacing", "6", "--canvas", "64", "--crop", "32",
                 "--g-base-width", "8", "--g-depth", "3", "--g-max-width", "16", "--steps", "2", "--batch-size", "2",
                 "--name", "tiny-heart", "--run-dir", str(tmp_path / "run"), "--export", str(tmp_path / "heart")]) == 0
    bundle = load_bundle(tmp_path / "heart")
    assert list(bundle.manifest.input.labels) == list(HEART_CLASSES) and not bundle.manifest.default
    assert "heart only" in bundle.manifest.training["data"]
    result = get_task("synthesize").run(ts_labelmap(), bundle, {}, InferenceOptions(device="cpu"))
    assert result.warnings[0].startswith("this model takes only heart, myocardium, cardiac blood pool, artery: left "
                                         "out bone, lung")
    assert any("no lung given" in w for w in result.warnings) and np.isfinite(result.volume.array).all()

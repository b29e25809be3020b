"""Modality translation: phantoms in other modalities, normalisation, warnings, CycleGAN, evaluation."""

import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.engine.input_checks import histogram_distance, input_range, intensity_histogram, normalised_input
from GANSynthesisLib.evaluation.image_metrics import masked_mae, masked_psnr
from GANSynthesisLib.files.image_files import read_metadata, read_volume, volume_to_sitk, write_volume
from GANSynthesisLib.models.bundle import load_bundle, save_bundle
from GANSynthesisLib.models.manifest import InputSpec, InputStatistics, Normalisation
from GANSynthesisLib.models.networks import ResnetGenerator
from GANSynthesisLib.models.registry import find_model
from GANSynthesisLib.phantoms.modalities import low_dose_ct, render_mr
from GANSynthesisLib.phantoms.thorax import Tissue, generate_phantom
from GANSynthesisLib.tasks.translation.image_translation import translate
from GANSynthesisTraining.data.paired_cases import phantom_cases
from GANSynthesisTraining.data.volume_files import folder_cases, synthrad_cases
from GANSynthesisTraining.evaluation.baselines import IntensityMapping
from GANSynthesisTraining.families.cyclegan.model import ImagePool

from support import ROOT, mni152_t1, oblique_direction, tiny_manifest

MR_NORMALISATION = {"type": "percentile", "low_percentile": 0.5, "high_percentile": 99.5}


@pytest.fixture(scope="module")
def phantom():
    return generate_phantom(21, (96, 96, 16), (4.0, 4.0, 4.0))


def test_mr_rendering_has_t1_contrast_on_the_same_anatomy(phantom):
    mr, tissues = render_mr(phantom).array, phantom.tissues.array
    mean = {t: mr[tissues == t].mean() for t in (Tissue.FAT, Tissue.MUSCLE, Tissue.BLOOD_LEFT, Tissue.CORTICAL_BONE,
                                                   Tissue.LUNG, Tissue.AIR)}
    assert mean[Tissue.FAT] > mean[Tissue.MUSCLE] > mean[Tissue.BLOOD_LEFT] > mean[Tissue.CORTICAL_BONE]
    assert mean[Tissue.LUNG] < 0.15 * mean[Tissue.FAT] and mean[Tissue.AIR] < 0.1 * mean[Tissue.FAT]
    air = mr[tissues == Tissue.AIR]
    assert air.min() >= 0 and air.std() > 0  # Rician: magnitude noise, never negative
    np.testing.assert_array_equal(render_mr(phantom).array, mr)  # deterministic by seed


def test_low_dose_ct_is_noisier_with_the_same_anatomy(phantom):
    low = low_dose_ct(phantom.ct, seed=21).array
    muscle = phantom.tissues.array == Tissue.MUSCLE
    assert low[muscle].std() > 1.5 * phantom.ct.array[muscle].std()
    assert abs(low[muscle].mean() - phantom.ct.array[muscle].mean()) < 10  # noise, not a shift
    more = low_dose_ct(phantom.ct, photons_per_ray=1e3, seed=21).array
    assert more[muscle].std() > low[muscle].std()


def test_percentile_normalisation_and_histograms():
    rng = np.random.default_rng(0)
    array = rng.uniform(0, 1000, (4, 50, 50))
    low, high = input_range(array, MR_NORMALISATION)
    assert low == pytest.approx(np.percentile(array, 0.5)) and high == pytest.approx(np.percentile(array, 99.5))
    normalised = normalised_input(array, MR_NORMALISATION)
    assert normalised.min() == -1 and normalised.max() == 1
    h = intensity_histogram(normalised)
    assert h.sum() == pytest.approx(1) and histogram_distance(h, h) == 0
    assert histogram_distance(h, intensity_histogram(-np.abs(normalised) * 0.05)) > 0.4
    with pytest.raises(GANSynthesisError, match="constant"):
        input_range(np.full((2, 5, 5), 7.0), MR_NORMALISATION)


@pytest.fixture(scope="module")
def tiny_translation_bundle(tmp_path_factory):
    torch.manual_seed(1)
    generator = ResnetGenerator(1, 1, base_width=4, n_blocks=1)
    phantom_mr = render_mr(generate_phantom(5, (64, 64, 8), (6.0, 6.0, 6.0)))
    statistics = InputStatistics(tuple(intensity_histogram(normalised_input(phantom_mr.array, MR_NORMALISATION))),
                                 warn_distance=0.3, data="one phantom")
    manifest = tiny_manifest("tiny-translate", generator, task="translate",
                             input=InputSpec(kind="image", modality="MR (T1-weighted)",
                                             normalisation=Normalisation.from_dict(MR_NORMALISATION),
                                             statistics=statistics))
    folder = tmp_path_factory.mktemp("translate") / "tiny-translate"
    save_bundle(folder, manifest, {"generator": generator.state_dict()}, dtype=torch.float32)
    return load_bundle(folder)


def test_translate_keeps_oblique_geometry_and_warns_only_on_unfamiliar_input(tiny_translation_bundle):
    mr = render_mr(generate_phantom(6, (64, 64, 8), (6.0, 6.0, 6.0)))
    oblique = Volume(mr.array, (2.5, 3.5, 6.0), (10.0, -4.0, 7.0), oblique_direction())
    out, warnings = translate(oblique, tiny_translation_bundle, InferenceOptions(device="cpu"))
    assert out.same_geometry(oblique) and np.isfinite(out.array).all() and warnings == []
    checker = np.indices((8, 64, 64)).sum(axis=0) % 2 * 1000.0  # nothing like a body
    _, warnings = translate(oblique.with_array(checker), tiny_translation_bundle, InferenceOptions(device="cpu"))
    assert len(warnings) == 1 and "unlike the data" in warnings[0]


def test_translate_refuses_non_finite_input(tiny_translation_bundle):
    bad = np.ones((2, 16, 16), np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(GANSynthesisError, match="non-finite"):
        translate(Volume(bad), tiny_translation_bundle)


def test_translate_a_real_mr_from_the_command_line(tmp_path):
    """The MNI152 T1 template: real MR no one here wrote (a brain, unlike the thorax the model knows)."""
    source = mni152_t1()
    output = tmp_path / "mni_synthetic_ct.nrrd"
    result = subprocess.run([sys.executable, "-m", "GANSynthesisLib", "translate", "-i", source, "-o", output,
                             "-m", "mr-to-ct-phantom", "--device", "cpu", "-q"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "unlike the data" in result.stderr
    assert "(1 mm in-plane, 1 mm slices) differ more than 2× in size" in result.stderr  # trained on 3 mm voxels
    assert read_volume(output).same_geometry(read_volume(source), atol=1e-5)
    assert np.isfinite(read_volume(output).array).all()
    assert "unlike the data" in read_metadata(output)["GANSynthesis.Warnings"]


def test_bundled_mr_to_ct_beats_intensity_mapping_on_a_new_phantom():
    bundle = find_model("mr-to-ct-phantom", "translate")
    test = phantom_cases([95001], source="mr")[0]
    baseline = IntensityMapping(phantom_cases([0, 1, 2], source="mr"), bundle.manifest.input.normalisation)
    synthetic, warnings = translate(test.source, bundle, InferenceOptions(device="cpu"))
    assert warnings == []
    model_mae = masked_mae(test.target.array, synthetic.array, test.body)
    assert model_mae < masked_mae(test.target.array, baseline(test), test.body)
    metrics = bundle.manifest.metrics
    assert metrics["model"]["mae"] < metrics["baselines"]["per-tissue intensity mapping"]["mae"]


def test_bundled_denoiser_beats_a_low_dose_input_on_psnr():
    """A new phantom scanned at the lowest training dose (2e3 photons/ray); the card states the model's limit for
    cleaner scans."""
    bundle = find_model("lowdose-ct-phantom", "translate")
    test = phantom_cases([95002])[0]
    low_dose = low_dose_ct(test.target, 2e3, seed=95002)
    denoised, _ = translate(low_dose, bundle, InferenceOptions(device="cpu"))
    assert masked_psnr(test.target.array, denoised.array, test.body) > masked_psnr(test.target.array,
                                                                                   low_dose.array, test.body)
    metrics = bundle.manifest.metrics
    assert metrics["model"]["psnr"] > metrics["baselines"]["low-dose input"]["psnr"]


def test_image_pool_returns_a_mix_of_new_and_stored_images():
    pool = ImagePool(64)
    generator = torch.Generator().manual_seed(0)
    first = torch.arange(64.0).view(64, 1, 1, 1)
    assert torch.equal(pool.query(first, generator), first)  # filling
    new = torch.arange(100.0, 132.0).view(32, 1, 1, 1)
    returned = pool.query(new, generator).flatten()
    from_pool = returned < 100
    assert 6 < from_pool.sum().item() < 26  # about half swapped
    stored = pool.images[:pool.size].flatten()
    # Exactly the slots handed out now hold new images; every other slot kept its image.
    replaced = set(torch.nonzero(stored >= 100).flatten().tolist())
    assert replaced == set(returned[from_pool].long().tolist())
    assert set(stored[stored >= 100].tolist()) <= set(new.flatten()[from_pool].tolist())
    kept = stored < 100
    assert torch.equal(stored[kept], torch.arange(64.0)[kept])


def test_cyclegan_trains_unpaired_from_the_command_line_and_exports_a_usable_bundle(tmp_path):
    bundle_dir = tmp_path / "bundle"
    args = ["--phantoms", "2", "--source", "mr", "--held-out", "1", "--batch-size", "2", "--g-base-width", "4",
            "--g-blocks", "1", "--d-base-width", "4", "--d-layers", "2", "--canvas", "64", "--phantom-size", "64",
            "64", "8", "--spacing", "6", "--log-every", "2", "--threads", "2", "--steps", "4", "--snapshot-steps",
            "--pool-size", "4", "--flip", "--rotation-deg", "10", "--scaling", "0.1", "--validation", "1",
            "--checkpoint-every", "2", "--run-dir", str(tmp_path / "run"), "--export", str(bundle_dir),
            "--name", "tiny-cycle"]
    result = subprocess.run([sys.executable, "-m", "GANSynthesisTraining", "cyclegan", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "cycle" in (tmp_path / "run" / "losses.csv").read_text().splitlines()[0]
    assert "validation at step 4: mae_hu" in result.stdout
    assert [row.split(",")[0] for row in (tmp_path / "run" / "validation.csv").read_text().splitlines()] == [
        "step", "2", "4"]
    bundle = load_bundle(bundle_dir)
    assert bundle.manifest.training["paired"] is False and bundle.task == "translate"
    source = tmp_path / "mr.nii.gz"
    write_volume(render_mr(generate_phantom(77, (64, 64, 8), (6.0, 6.0, 6.0))), source)
    out = subprocess.run([sys.executable, "-m", "GANSynthesisLib", "translate", "-i", source, "-o",
                          tmp_path / "ct.nii.gz", "-m", bundle_dir, "-q"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert read_volume(tmp_path / "ct.nii.gz").same_geometry(read_volume(source), atol=1e-5)


def test_cyclegan_trains_from_two_folders_of_unpaired_volumes(tmp_path, capsys):
    from GANSynthesisTraining.families.cyclegan.command import main

    folders = {"mr": tmp_path / "mr", "ct": tmp_path / "ct"}
    for folder in folders.values():
        folder.mkdir()
    for seed in (0, 1):
        phantom = generate_phantom(seed, (64, 64, 8), (6.0, 6.0, 6.0))
        write_volume(render_mr(phantom), folders["mr"] / f"{seed}.nii.gz")
    write_volume(generate_phantom(5, (64, 64, 6), (6.0, 6.0, 6.0)).ct, folders["ct"] / "other.nrrd")
    run = tmp_path / "run"
    assert main(["--domain-a", str(folders["mr"]), "--domain-b", str(folders["ct"]), "--source", "mr", "--held-out",
                 "0", "--batch-size", "2", "--g-base-width", "4", "--g-blocks", "1", "--d-base-width", "4",
                 "--d-layers", "2", "--canvas", "64", "--spacing", "6", "--log-every", "2", "--threads", "2",
                 "--steps", "2", "--snapshot-steps", "--pool-size", "4", "--run-dir", str(run)]) == 0
    assert "16 slices in A, 6 in B" in capsys.readouterr().out
    assert [row.split(",")[0] for row in (run / "losses.csv").read_text().splitlines()] == ["step", "2"]
    with pytest.raises(SystemExit):
        main(["--domain-a", str(folders["mr"]), "--domain-b", str(folders["ct"]), "--validation", "1",
              "--run-dir", str(run)])
    assert "--validation needs paired cases" in capsys.readouterr().err


def test_synthrad_layout_is_read_with_its_body_mask(tmp_path):
    case = phantom_cases([8], (48, 48, 6), (6.0, 6.0, 6.0), source="mr")[0]
    folder = tmp_path / "Task1" / "pelvis" / "1PA001"
    folder.mkdir(parents=True)
    for name, volume in (("mr", case.source), ("ct", case.target),
                         ("mask", case.target.with_array(case.body.astype(np.uint8)))):
        sitk.WriteImage(volume_to_sitk(volume), str(folder / f"{name}.nii.gz"))
    (read,) = synthrad_cases(tmp_path / "Task1", "mr")
    assert read.case_id == "pelvis-1PA001"
    np.testing.assert_array_equal(read.body, case.body)
    np.testing.assert_allclose(read.source.array, case.source.array)


def test_a_folder_of_pairs_trains_from_the_command_line(tmp_path, capsys):
    """source/, target/, mask/ matched by file name whatever the suffix; whole patients split; clear errors."""
    from GANSynthesisTraining.families.pix2pix.translation import main

    pairs = tmp_path / "pairs"
    cases = phantom_cases([8, 9, 10], (48, 48, 6), (6.0, 6.0, 6.0), source="mr")
    for name in ("source", "target", "mask"):
        (pairs / name).mkdir(parents=True)
    for case, suffix in zip(cases, (".nii.gz", ".nrrd", ".mha")):
        write_volume(case.source, pairs / "source" / f"{case.case_id}{suffix}")
        write_volume(case.target, pairs / "target" / f"{case.case_id}.nii.gz")
    write_volume(cases[0].target.with_array(cases[0].body.astype(np.uint8)), pairs / "mask" / "phantom-8.nrrd")
    read = folder_cases(pairs, "source", "target")
    assert [c.case_id for c in read] == ["phantom-10", "phantom-8", "phantom-9"]
    np.testing.assert_array_equal(read[1].body, cases[0].body)
    np.testing.assert_allclose(read[0].source.array, cases[2].source.array)
    run = tmp_path / "run"
    assert main(["--pairs-folder", str(pairs), "--source", "mr", "--held-out", "1", "--validation", "1",
                 "--batch-size", "2", "--g-base-width", "4", "--g-depth", "3", "--g-max-width", "8",
                 "--d-base-width", "4", "--d-layers", "2", "--canvas", "64", "--spacing", "6", "--steps", "2",
                 "--snapshot-steps", "--threads", "2", "--run-dir", str(run)]) == 0
    split = json.loads((run / "split.json").read_text())
    assert sorted(sum(split.values(), [])) == ["phantom-10", "phantom-8", "phantom-9"]
    assert [len(split[part]) for part in ("train", "validation", "test")] == [1, 1, 1]
    assert "validation at step 2" in capsys.readouterr().out

    write_volume(cases[1].target, pairs / "target" / "phantom-8.nrrd")
    with pytest.raises(GANSynthesisError, match="holds two images of case 'phantom-8' .*; keep one"):
        folder_cases(pairs, "source", "target")
    (pairs / "target" / "phantom-8.nrrd").unlink()
    (pairs / "target" / "phantom-9.nii.gz").unlink()
    with pytest.raises(GANSynthesisError, match="1 case.* lack a partner .*: phantom-9; give each"):
        folder_cases(pairs, "source", "target")
    failed = subprocess.run([sys.executable, "-m", "GANSynthesisTraining", "synthesis", "--pairs-folder", str(pairs),
                             "--run-dir", str(tmp_path / "failed")], cwd=ROOT, capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.startswith(f"error: {pairs} needs subfolders label/ and image/")

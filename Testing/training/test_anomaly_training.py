"""Anomaly model training (f-AnoGAN and inpainting families): the exported bundle, its card and evaluation,
--networks-from, resuming, and real-data folders."""

import csv
import json

import numpy as np
import pytest
import torch

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.engine.input_checks import input_warnings
from GANSynthesisLib.files.image_files import write_volume
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.phantoms.lesions import LesionKind, lesion_case, normal_image
from GANSynthesisLib.phantoms.thorax import generate_phantom
from GANSynthesisLib.tasks.anomaly.detection import context_evidence, find_anomalies, intensity_evidence
from GANSynthesisLib.tasks.anomaly.surprise import combined_heat, joint_surprise, tail_table
from GANSynthesisLib.tasks.anomaly.thresholds import percent_text, threshold_for_normal_share
from GANSynthesisLib.tasks.model_cards import held_out_lines
from GANSynthesisTraining.data.real_normal_ct import real_normal_ct_present
from GANSynthesisTraining.evaluation.detection_metrics import at_threshold

from support import TINY_ANOMALY_TRAINING


def test_training_exports_one_bundle_with_three_networks_and_its_evaluation(tiny_anomaly_run):
    from GANSynthesisTraining.evaluation.anomaly_evaluation import judged_voxels

    bundle = load_bundle(tiny_anomaly_run / "exported")
    assert set(bundle.manifest.weights) == {"generator", "encoder", "critic"}
    assert bundle.task == "anomaly" and 0 < bundle.manifest.anomaly.threshold <= 1
    assert bundle.manifest.input.statistics.voxel_spacing_mm == {"in_plane": 3.0, "slice": 3.0}
    metrics = json.loads((tiny_anomaly_run / "metrics.json").read_text())
    for method in ("model", "baseline"):
        for subset in ("all lesions", "in-range lesions"):
            pooled = metrics[method][subset]["pooled"]
            assert 0 <= pooled["auroc"] <= 1 and 0 <= pooled["auprc"] <= 1 and 0 <= pooled["best_dice"] <= 1
    card = (tiny_anomaly_run / "exported" / "README.md").read_text()
    assert "AUPRC" in card and "intensity threshold" in card and "held_out.png" in card
    assert "| lesion voxels found ↑ | normal voxels marked ↓ |" in card
    case = lesion_case(90000, "ct", (64, 64, 12))  # the held-out case, scored as the evaluation scores it
    judged, lesion = judged_voxels(case, (LesionKind.IN_RANGE, LesionKind.OUT_OF_RANGE))
    marked = at_threshold(context_evidence(case.image, bundle).heat[judged], lesion[judged],
                          metrics["thresholds"]["model"])
    pooled = metrics["model"]["all lesions"]["pooled"]
    assert pooled["dice_at_threshold"] == pytest.approx(marked["dice"], abs=1e-9)
    assert pooled["lesion_found_at_threshold"] == pytest.approx(marked["lesion_found"], abs=1e-9)
    assert pooled["normal_marked_at_threshold"] == pytest.approx(marked["normal_marked"], abs=1e-9)
    lines = held_out_lines(bundle.manifest)
    assert lines[-2] == (
        f"Default threshold {bundle.manifest.anomaly.threshold:g}: on the held-out cases it finds "
        f"{percent_text(marked['lesion_found'])} of lesion voxels and marks {percent_text(marked['normal_marked'])} of "
        "normal body voxels")
    shares = ", ".join(f"{text} at {threshold_for_normal_share(bundle.manifest, share):.3g}"
                       for text, share in (("5 %", 0.05), ("1 %", 0.01), ("0.1 %", 0.001)))
    assert lines[-1] == f"Thresholds by the share of normal tissue they mark on the calibration phantoms: {shares}"
    assert f"{lines[-1]} (`--normal-share` on the command line)." in card
    for phase in ("wgan", "encoder"):
        rows = list(csv.DictReader(open(tiny_anomaly_run / phase / "losses.csv")))
        assert [r["step"] for r in rows] == ["1", "2"]
    assert (tiny_anomaly_run / "held_out.png").stat().st_size > 10_000


def test_f_anogan_networks_from_a_bundle_are_calibrated_and_exported_without_training(tiny_anomaly_run, tmp_path):
    from GANSynthesisTraining.families.fanogan.command import main

    assert main([*TINY_ANOMALY_TRAINING, "--run-dir", str(tmp_path), "--export", str(tmp_path / "exported"),
                 "--name", "tiny-anomaly", "--networks-from", str(tiny_anomaly_run / "exported")]) == 0
    assert not (tmp_path / "wgan").exists() and not (tmp_path / "encoder").exists()
    first, second = (load_bundle(run / "exported").manifest for run in (tiny_anomaly_run, tmp_path))
    for section in ("weights", "architecture", "anomaly", "training", "input", "metrics"):
        assert getattr(second, section) == getattr(first, section), section
    with pytest.raises(GANSynthesisError, match=r"encoder_steps 2 \(this run: 3\)"):
        main([*TINY_ANOMALY_TRAINING, "--encoder-steps", "3", "--run-dir", str(tmp_path / "other"),
              "--networks-from", str(tiny_anomaly_run / "exported")])


def test_training_resumes_both_phases_from_their_checkpoints(tiny_anomaly_run, tmp_path, capsys):
    import shutil

    from GANSynthesisTraining.families.fanogan.command import main

    run = tmp_path / "run"
    shutil.copytree(tiny_anomaly_run, run)
    arguments = [a if a != "2" else "3" for a in TINY_ANOMALY_TRAINING]  # one more step in each phase
    assert main([*arguments, "--run-dir", str(run), "--resume"]) == 0
    output = capsys.readouterr().out
    assert "resumed at step 2" in output and output.count("step 3/3") == 2


def test_training_reads_a_folder_of_normal_scans_and_a_csv_of_lesion_scans(tmp_path, capsys):
    """Real-data layout: normal scans in a folder (any mix of formats), held-out scans listed with their masks."""
    from GANSynthesisTraining.families.fanogan.command import main

    normal = tmp_path / "normal"
    normal.mkdir()
    for seed, suffix in ((0, ".nii.gz"), (1, ".nrrd")):
        write_volume(normal_image(generate_phantom(seed, (64, 64, 12)), "ct"), normal / f"scan{seed}{suffix}")
    (normal / "notes.txt").write_text("not an image")
    lesions = tmp_path / "lesions"
    lesions.mkdir()
    case = lesion_case(90003, "ct", (64, 64, 12))
    write_volume(case.image, lesions / "image.nii.gz")
    write_volume(case.mask, lesions / "mask.nii.gz")
    (lesions / "held_out.csv").write_text("image,mask,id\nimage.nii.gz,mask.nii.gz,patient-7\n")
    arguments = TINY_ANOMALY_TRAINING[2:]  # without --phantoms 2
    run = tmp_path / "run"
    assert main([*arguments, "--normal-folder", str(normal), "--lesion-csv", str(lesions / "held_out.csv"),
                 "--run-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"] == f"held-out scans listed in {lesions / 'held_out.csv'}"
    assert [c["case"] for c in metrics["model"]["all lesions"]["per_case"]] == ["patient-7"]
    assert "24 normal slices" in capsys.readouterr().out  # both scans (12 slices each), not the text file


TINY_INPAINTING_TRAINING = [*TINY_ANOMALY_TRAINING[:TINY_ANOMALY_TRAINING.index("--tile")], "--tile", "16", "--hole",
                            "4", "--g-depth", "4", "--g-base-width", "4", "--g-max-width", "8", "--d-base-width", "4",
                            "--d-layers", "2", "--batch-size", "4", "--steps", "2", "--log-every", "1", "--scale-steps",
                            "2", "--held-out", "1", "--calibration", "1", "--threads", "1", "--snapshot-steps"]


def test_inpainting_training_exports_a_bundle_the_heatmap_runs(tmp_path):
    """With intensity evidence and --lesion-supersample 3: the intensity table comes from the sharp training
    phantoms, the surprise tables from the normal voxels of calibration phantoms with partial volume, whose
    intensities then draw no warning; the card says so and shows the networks alone beside the model; the shipped
    heatmap is the one that was evaluated."""
    from GANSynthesisTraining.evaluation.anomaly_evaluation import CALIBRATION_SEED_BASE, INTENSITY_FLOORS, judged_voxels
    from GANSynthesisTraining.evaluation.baselines import IntensityRarity
    from GANSynthesisTraining.families.inpainting.command import main

    run = tmp_path / "run"
    assert main([*TINY_INPAINTING_TRAINING, "--intensity-evidence", "--lesion-supersample", "3", "--run-dir", str(run),
                 "--export", str(run / "exported")]) == 0
    bundle = load_bundle(run / "exported")
    settings = bundle.manifest.anomaly
    assert settings.method == "inpainting"
    assert set(bundle.manifest.weights) == {"generator", "error_scale"}
    assert bundle.manifest.output.units.startswith("S / (S + 6), S = surprise")
    assert len(settings.intensity_rarity) == 128
    assert set(settings.surprise) == {"context", "intensity", "intensity_floor"}
    assert settings.surprise["intensity_floor"] in INTENSITY_FLOORS
    assert settings.surprise["context"][0][1] == 0 and len(settings.surprise["context"]) > 8
    sharp_training = [normal_image(generate_phantom(seed, (64, 64, 12)), "ct") for seed in (0, 1)]
    table = IntensityRarity(sharp_training, bundle.manifest.input.normalisation, settings.body_level,
                            settings.smoothing_mm).rarity
    np.testing.assert_allclose(settings.intensity_rarity, table, atol=1e-6)
    partial, sharp = (lesion_case(CALIBRATION_SEED_BASE, "ct", (64, 64, 12), supersample=n) for n in (3, 1))
    normal_context = {}
    for name, case in (("partial", partial), ("sharp", sharp)):
        judged, lesion = judged_voxels(case, (LesionKind.IN_RANGE, LesionKind.OUT_OF_RANGE))
        normal_context[name] = context_evidence(case.image, bundle).heat[judged & ~lesion]
    np.testing.assert_allclose(settings.surprise["context"], tail_table(normal_context["partial"]), rtol=1e-5)
    assert not np.allclose(tail_table(normal_context["sharp"])[-1], settings.surprise["context"][-1])
    assert settings.calibration == "1 lesion phantom, seed 80000, partial volume from 3³ samples per voxel"
    assert "partial volume" not in bundle.manifest.training["data"]
    statistics = bundle.manifest.input.statistics
    assert statistics.data.endswith("; and the normal anatomy of its calibration phantoms (seed 80000, partial "
                                    "volume from 3³ samples per voxel)")
    assert input_warnings(partial.image, bundle) == []  # its intensities are the calibration's
    assert bundle.manifest.metrics["data"] == ("held-out lesion phantoms, seed 90000, partial volume from 3³ "
                                               "samples per voxel")
    assert (run / "error_scale" / "losses.csv").read_text().count("\n") == 3  # header + 2 steps
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["thresholds"]) == {"model", "context alone", "baseline"}
    card = (run / "exported" / "README.md").read_text()
    assert "networks alone" in card and f"beyond a surprise of {settings.surprise['intensity_floor']:g}," in card
    volume = lesion_case(90006, "ct", (48, 48, 5)).image
    result = find_anomalies(volume, bundle)
    heat = result.heatmap.array
    assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() < 1 and len(result.slice_scores) == 5
    evidence = context_evidence(volume, bundle)
    rarity = intensity_evidence(volume, evidence.normalised, evidence.body, settings.intensity_rarity,
                                settings.smoothing_mm)
    assert np.array_equal(heat, combined_heat(evidence.heat, rarity, settings.surprise) * evidence.body)
    assert not np.array_equal(heat, evidence.heat)
    joint = joint_surprise(evidence.heat, rarity, settings.surprise)
    assert np.allclose(result.slice_scores, [joint[k][evidence.body[k]].max() for k in range(5)])  # axial, k = z


def test_networks_from_a_bundle_are_calibrated_and_exported_without_training(tmp_path):
    """--networks-from: no training; the bundle carries the same weights and calibration as the one exported right
    after training; a bundle made with other settings is refused before anything is written."""
    from GANSynthesisTraining.families.inpainting.command import main

    trained, again = tmp_path / "trained", tmp_path / "again"
    assert main([*TINY_INPAINTING_TRAINING, "--intensity-evidence", "--run-dir", str(trained),
                 "--export", str(trained / "exported")]) == 0
    assert main([*TINY_INPAINTING_TRAINING, "--intensity-evidence", "--run-dir", str(again),
                 "--export", str(again / "exported"), "--networks-from", str(trained / "exported")]) == 0
    assert (trained / "inpainting").is_dir() and not (again / "inpainting").exists()
    first, second = (load_bundle(run / "exported").manifest for run in (trained, again))
    for section in ("weights", "architecture", "anomaly", "training", "input"):
        assert getattr(second, section) == getattr(first, section), section
    manifest_path = trained / "exported" / "model.json"  # as a bundle made before grid shifts were recorded
    manifest_path.write_text(json.dumps(first.to_dict() | {"anomaly": {k: v for k, v in first.anomaly.to_dict().items()
                                                                       if k != "grid_shifts"}}))
    assert main([*TINY_INPAINTING_TRAINING, "--intensity-evidence", "--run-dir", str(tmp_path / "older"),
                 "--export", str(tmp_path / "older" / "exported"), "--networks-from", str(trained / "exported")]) == 0
    other = tmp_path / "other"
    with pytest.raises(GANSynthesisError, match=r"grid_shifts 1 \(this run: 2\)"):
        main([*TINY_INPAINTING_TRAINING, "--grid-shifts", "2", "--run-dir", str(other), "--export",
              str(other / "exported"), "--networks-from", str(trained / "exported")])
    assert not (other / "exported").exists()


@pytest.mark.skipif(not real_normal_ct_present(), reason="the real CTs of ../shared/data are absent")
def test_an_exported_inpainting_generator_is_settled_on_the_tiles_it_trained_on(tmp_path):
    """anomaly-real-ct --settle-batch-norm: a bundle exported before training settled its EMA gets batch-norm
    statistics estimated for its own weights on the phantoms + real CT tiles; the card's summary says so."""
    from GANSynthesisLib.models.bundled_networks import load_network
    from GANSynthesisTraining.families.inpainting.command import main
    from GANSynthesisTraining.families.inpainting.real_ct import settle_generator

    run = tmp_path / "run"
    assert main([*TINY_INPAINTING_TRAINING, "--run-dir", str(run), "--export", str(run / "exported")]) == 0
    bundle = load_bundle(run / "exported")
    generator = load_network(bundle, "generator")
    before = [b.clone() for b in generator.buffers() if b.dtype.is_floating_point]
    said = settle_generator(generator, bundle, phantoms=1)
    after = [b for b in generator.buffers() if b.dtype.is_floating_point]
    assert any(not torch.allclose(a, b) for a, b in zip(before, after)) and not generator.training
    assert said.startswith(" The generator's batch-norm statistics were then re-estimated") and "100 batches" in said

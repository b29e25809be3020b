"""The anomaly command line: heatmap, segmentation and scores files, --normal-share, batch anomaly, and a
real brain MR through the bundled MR model."""

import csv
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from GANSynthesisLib.cli import main as cli
from GANSynthesisLib.files.image_files import read_volume, write_volume
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.phantoms.lesions import LesionKind, lesion_case
from GANSynthesisLib.tasks.anomaly.detection import find_anomalies
from GANSynthesisLib.tasks.anomaly.thresholds import threshold_for_normal_share

from support import ROOT


def test_cli_writes_heatmap_segmentation_and_scores(tiny_anomaly_run, tmp_path, capsys):
    case = lesion_case(90004, "ct", (64, 64, 10))
    source = tmp_path / "scan.nii.gz"
    write_volume(case.image, source)
    heat, seg, scores = tmp_path / "heat.nrrd", tmp_path / "suspected.nii.gz", tmp_path / "scores.csv"
    model = str(tiny_anomaly_run / "exported")
    assert cli(["anomaly", "-i", str(source), "-o", str(heat), "--segmentation", str(seg), "--scores", str(scores),
                "-m", model, "--threshold", "0.05", "-q"]) == 0
    heatmap, suspected = read_volume(heat), read_volume(seg)
    assert heatmap.same_geometry(case.image, atol=1e-4) and suspected.same_geometry(case.image, atol=1e-4)
    np.testing.assert_array_equal(suspected.array, (heatmap.array >= 0.05).astype(np.uint8))
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(heat))
    reader.ReadImageInformation()
    assert reader.GetMetaData("GANSynthesis.Synthetic") == "true"
    assert reader.GetMetaData("GANSynthesis.OutputModality") == "anomaly heatmap"
    rows = list(csv.DictReader(open(scores)))
    assert len(rows) == 10 and set(rows[0]) == {"slice", "position_mm", "anomaly_score", "suspected_area_mm2"}
    assert "volume anomaly score" in capsys.readouterr().out
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert cli(["anomaly", "-i", str(source), "-o", str(tmp_path / "new.nrrd"), "--scores", str(scores),
                "-m", model, "-q"]) == 2
    assert "exists" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before  # nothing written or touched
    assert cli(["anomaly", "-i", str(source), "-o", str(tmp_path / "new.nrrd"), "--scores",
                str(tmp_path / "scores.txt"), "-m", model, "-q"]) == 2
    assert ".csv" in capsys.readouterr().err


def test_a_share_of_normal_tissue_sets_the_threshold_that_marks_it_on_the_calibration_phantom(tiny_anomaly_run,
                                                                                             tmp_path, capsys):
    from GANSynthesisTraining.evaluation.anomaly_evaluation import CALIBRATION_SEED_BASE, judged_voxels

    case = lesion_case(CALIBRATION_SEED_BASE, "ct", (64, 64, 12))  # the tiny run's one calibration phantom
    source, heat = tmp_path / "calibration.nii.gz", tmp_path / "heat.nrrd"
    write_volume(case.image, source)
    model = str(tiny_anomaly_run / "exported")
    assert cli(["anomaly", "-i", str(source), "-o", str(heat), "--segmentation", str(tmp_path / "marked.nii.gz"),
                "-m", model, "--normal-share", "0.1", "-q"]) == 0
    assert "which marks 10 % of normal tissue on the model's calibration phantoms" in capsys.readouterr().out
    judged, lesion = judged_voxels(case, (LesionKind.IN_RANGE, LesionKind.OUT_OF_RANGE))
    marked = read_volume(tmp_path / "marked.nii.gz").array.astype(bool)
    assert marked[judged & ~lesion].mean() == pytest.approx(0.1, abs=0.002)
    assert cli(["anomaly", "-i", str(source), "-o", str(tmp_path / "other.nrrd"), "-m", model, "--normal-share", "1e-9",
                "-q"]) == 2
    assert "choose a larger share" in capsys.readouterr().err and not (tmp_path / "other.nrrd").exists()
    with pytest.raises(SystemExit):
        cli(["anomaly", "-i", str(source), "-o", str(heat), "-m", model, "--normal-share", "0.1", "--threshold", "0.2"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_batch_anomaly_keeps_one_summary_row_per_case(tiny_anomaly_run, tmp_path, capsys):
    inputs, outputs = tmp_path / "scans", tmp_path / "heatmaps"
    inputs.mkdir()
    for seed in (90004, 90005):
        write_volume(lesion_case(seed, "ct", (64, 64, 6)).image, inputs / f"patient{seed}.nii.gz")
    model = str(tiny_anomaly_run / "exported")
    assert cli(["batch", "anomaly", "--input-dir", str(inputs), "--output-dir", str(outputs), "-m", model]) == 0
    assert "volume anomaly score" in capsys.readouterr().out
    first = list(csv.DictReader(open(outputs / "summary.csv")))
    assert [row["case"] for row in first] == ["patient90004", "patient90005"]
    direct = find_anomalies(read_volume(inputs / "patient90005.nii.gz"), load_bundle(model))
    assert float(first[1]["volume_score"]) == pytest.approx(max(direct.slice_scores), abs=1e-4)
    assert int(first[1]["highest_slice"]) == int(np.argmax(direct.slice_scores))
    assert read_volume(outputs / first[1]["heatmap"]).same_geometry(direct.heatmap, atol=1e-4)
    (outputs / first[1]["heatmap"]).unlink()  # redo one case: the other keeps its row
    assert cli(["batch", "anomaly", "--input-dir", str(inputs), "--output-dir", str(outputs), "-m", model]) == 0
    assert "skipped" in capsys.readouterr().out
    assert list(csv.DictReader(open(outputs / "summary.csv"))) == first
    assert cli(["batch", "anomaly", "--input-dir", str(inputs), "--output-dir", str(outputs), "-m", model,
                "--overwrite", "--normal-share", "0.1"]) == 0
    rows = list(csv.DictReader(open(outputs / "summary.csv")))
    wanted = threshold_for_normal_share(load_bundle(model).manifest, 0.1)
    assert [float(row["threshold"]) for row in rows] == pytest.approx([wanted, wanted], abs=1e-6)
    assert cli(["batch", "synthesize", "--input-dir", str(inputs), "--output-dir", str(tmp_path / "ct"),
                "--threshold", "0.2"]) == 2
    assert "apply to the anomaly task only" in capsys.readouterr().err and not (tmp_path / "ct").exists()


def test_bundled_mr_model_on_a_real_brain_mr_keeps_geometry_and_warns(tmp_path):
    """The MNI152 T1 template: real MR no one here wrote (a brain, unlike the thorax phantoms)."""
    from support import mni152_t1

    source = mni152_t1()
    heat, scores = tmp_path / "mni_heat.nrrd", tmp_path / "mni_scores.csv"
    result = subprocess.run([sys.executable, "-m", "GANSynthesisLib", "anomaly", "-i", source, "-o", heat,
                             "--scores", scores, "-m", "anomaly-mr-phantom", "--device", "cpu", "-q"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "unlike the data" in result.stderr
    heatmap, original = read_volume(heat), read_volume(source)
    assert heatmap.same_geometry(original, atol=1e-5)
    assert np.isfinite(heatmap.array).all() and 0 <= heatmap.array.min() and heatmap.array.max() <= 1
    assert len(list(csv.DictReader(open(scores)))) == original.array.shape[0]

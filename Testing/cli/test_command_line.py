"""The command line as a user runs it: real files in, real files out, clear one-line errors."""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from GANSynthesisLib.cli import build_parser
from GANSynthesisLib.files.image_files import read_metadata, volume_to_sitk

from support import ROOT, hand_drawn_heart, oblique_direction, ts_labelmap


def cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "GANSynthesisLib", *map(str, args)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def foreign_labels(tmp_path_factory):
    """A label map written with SimpleITK (not by the project), oblique and anisotropic."""
    path = tmp_path_factory.mktemp("foreign") / "heart_labels.nrrd"
    sitk.WriteImage(volume_to_sitk(hand_drawn_heart(size=(120, 100, 30), spacing=(1.6, 1.25, 4.0),
                                                    direction=oblique_direction(15, 6))), str(path))
    return path


def test_synthesize_with_the_bundled_model_keeps_geometry_and_marks_output(foreign_labels, tmp_path):
    before = digest(foreign_labels)
    output = tmp_path / "synthetic_ct.nii.gz"
    result = cli("synthesize", "--input", foreign_labels, "--output", output, "--device", "cpu")
    assert "wrote" in result.stdout and digest(foreign_labels) == before
    source, synthetic = sitk.ReadImage(str(foreign_labels)), sitk.ReadImage(str(output))
    assert synthetic.GetSize() == source.GetSize()
    assert np.allclose(synthetic.GetSpacing(), source.GetSpacing(), atol=1e-5)
    assert np.allclose(synthetic.GetOrigin(), source.GetOrigin(), atol=1e-4)
    assert np.allclose(synthetic.GetDirection(), source.GetDirection(), atol=1e-5)
    ct, labels = sitk.GetArrayFromImage(synthetic), sitk.GetArrayFromImage(source)
    assert np.isfinite(ct).all()
    assert ct[labels == 500].mean() >= ct[labels == 205].mean() + 100
    assert read_metadata(output)["descrip"].startswith("SYNTHETIC CT")


def test_nrrd_output_carries_provenance_keys(foreign_labels, tmp_path, tiny_bundle_dir):
    output = tmp_path / "out.nrrd"
    cli("synthesize", "-i", foreign_labels, "-o", output, "--model", tiny_bundle_dir, "--quiet")
    meta = read_metadata(output)
    assert meta["GANSynthesis.Synthetic"] == "true" and meta["GANSynthesis.Model"] == "tiny-synth"
    assert meta["GANSynthesis.IntendedUse"] == "research, not for diagnosis"


def test_contrast_sets_the_blood_level_and_says_so_in_the_file(tmp_path, tiny_wholebody_bundle_dir):
    labels = tmp_path / "ts.nrrd"
    sitk.WriteImage(volume_to_sitk(ts_labelmap()), str(labels))
    output = tmp_path / "venous.nrrd"
    result = cli("synthesize", "-i", labels, "-o", output, "-m", tiny_wholebody_bundle_dir, "--contrast", "venous")
    assert "set to 160 HU (portal-venous phase)" in result.stdout
    meta = read_metadata(output)
    assert meta["GANSynthesis.contrast_hu"] == "160" and float(meta["GANSynthesis.model_artery_hu"]) != 160
    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(output)))
    assert ct[ts_labelmap().array == 52].mean() == pytest.approx(160, abs=0.05)  # the aorta
    refused = cli("synthesize", "-i", labels, "-o", tmp_path / "late.nrrd", "-m", tiny_wholebody_bundle_dir,
                  "--contrast", "late", check=False)
    assert refused.returncode != 0 and "neither a phase" in refused.stderr and not (tmp_path / "late.nrrd").exists()


def test_existing_output_needs_overwrite(foreign_labels, tmp_path, tiny_bundle_dir):
    output = tmp_path / "out.nii.gz"
    output.write_bytes(b"keep me")
    result = cli("synthesize", "-i", foreign_labels, "-o", output, "-m", tiny_bundle_dir, check=False)
    assert result.returncode != 0 and "--overwrite" in result.stderr and output.read_bytes() == b"keep me"
    cli("synthesize", "-i", foreign_labels, "-o", output, "-m", tiny_bundle_dir, "--overwrite", "-q")
    assert output.read_bytes() != b"keep me"


def test_label_mapping_from_the_command_line(tmp_path, tiny_bundle_dir):
    labels = hand_drawn_heart(size=(40, 40, 6))
    renumbered = labels.with_array(np.select([labels.array == 500, labels.array == 205], [1, 2], 0).astype(np.uint8))
    path = tmp_path / "renumbered.nii.gz"
    sitk.WriteImage(volume_to_sitk(renumbered), str(path))
    failed = cli("synthesize", "-i", path, "-o", tmp_path / "a.nii.gz", "-m", tiny_bundle_dir, check=False)
    assert failed.returncode != 0 and "--labels" in failed.stderr
    cli("synthesize", "-i", path, "-o", tmp_path / "b.nii.gz", "-m", tiny_bundle_dir, "--labels", "LV=1, Myocardium=2")
    assert (tmp_path / "b.nii.gz").exists()


def write(tmp_path, name, array, **kwargs):
    path = tmp_path / name
    sitk.WriteImage(sitk.GetImageFromArray(array, **kwargs), str(path))
    return path


def bad_inputs(tmp_path, tiny_bundle_dir):
    tampered = shutil.copytree(tiny_bundle_dir, tmp_path / "tampered")
    weights = tampered / "generator.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\x00" * 8)
    pickled = tmp_path / "generator.pth"
    pickled.write_bytes(b"\x80\x04pretend pickle")
    labels = tmp_path / "labels.nii.gz"
    sitk.WriteImage(volume_to_sitk(hand_drawn_heart(size=(30, 30, 5))), str(labels))
    return {
        "empty": (write(tmp_path, "empty.nii.gz", np.zeros((4, 20, 20), np.uint16)), None, "empty"),
        "no model labels": (write(tmp_path, "other.nii.gz", np.full((4, 20, 20), 7, np.uint16)), None,
                            "None of the label values"),
        "4-D": (write(tmp_path, "four_d.nii.gz", np.zeros((2, 3, 8, 8), np.uint16), isVector=False), None, "4-D"),
        "missing": (tmp_path / "does_not_exist.nii.gz", None, "not found"),
        "tampered": (labels, tampered, "SHA-256"),
        "pickled": (labels, pickled, "pickle"),
    }


def test_bad_input_fails_with_one_clear_line_and_no_output(tmp_path, tiny_bundle_dir):
    for case, (source, model, message) in bad_inputs(tmp_path, tiny_bundle_dir).items():
        output = tmp_path / f"out_{case.replace(' ', '_')}.nii.gz"
        args = ["synthesize", "-i", source, "-o", output] + (["-m", model] if model else ["-m", tiny_bundle_dir])
        result = cli(*args, check=False)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, case
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], (case, result.stderr)
        assert not output.exists() and not list(tmp_path.glob("*.partial*")), case


def test_models_lists_the_bundled_default_with_metrics():
    out = cli("models").stdout
    assert "[synthesize]" in out and "(default)" in out and "cardiac blood pool=1010" in out
    assert "Contrast: blood in arteries and heart chambers set to the phase asked for (default arterial, 350 HU)" in out
    assert "Held-out lung1 (real chest CT): body MAE" in out and "(per-label mean HU: " in out
    assert "held-out data: held-out phantoms" in out and "Held-out: MAE" in out and "  baseline, per-tissue" in out
    assert "[anomaly]" in out and "Held-out, in-range lesions: AUROC" in out
    assert "→ output: anomaly heatmap (S / (S + 6), S = surprise of the voxel in context + surprise of its" in out
    assert "(networks alone: AUPRC" in out
    assert "→ output: anomaly heatmap (fraction of the input intensity window)" in out


def test_a_reader_that_stops_early_ends_the_command_without_a_traceback():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as with `| head -0`
    try:
        result = subprocess.run([sys.executable, "-m", "GANSynthesisLib", "models"], cwd=ROOT, stdout=write_end,
                                stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


def test_phantom_command_writes_a_case(tmp_path):
    cli("phantom", "--output", tmp_path / "case", "--seed", "5", "--size", "40", "36", "12", "--spacing", "6", "6", "8")
    ct = sitk.ReadImage(str(tmp_path / "case" / "ct.nii.gz"))
    assert ct.GetSize() == (40, 36, 12) and ct.GetSpacing() == (6.0, 6.0, 8.0)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "case" / "labels.nii.gz")))
    assert 500 in labels
    for name in ("ct", "labels", "body"):
        assert read_metadata(tmp_path / "case" / f"{name}.nii.gz")["descrip"] == \
            "GANSynthesis phantom seed 5 (procedural, not a patient)"


def test_phantom_command_draws_partial_volume_with_the_same_labels(tmp_path):
    grid = ("--seed", "5", "--size", "40", "36", "12", "--spacing", "6", "6", "8")
    cli("phantom", "-o", tmp_path / "sharp", *grid)
    cli("phantom", "-o", tmp_path / "partial", *grid, "--supersample", "3")
    read = {(kind, name): sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / kind / f"{name}.nii.gz")))
            for kind in ("sharp", "partial") for name in ("ct", "labels", "body")}
    np.testing.assert_array_equal(read["sharp", "labels"], read["partial", "labels"])
    np.testing.assert_array_equal(read["sharp", "body"], read["partial", "body"])
    body = read["sharp", "body"] > 0
    in_between = {kind: ((read[kind, "ct"] > -700) & (read[kind, "ct"] < -300))[body].mean()
                  for kind in ("sharp", "partial")}
    assert in_between["sharp"] < 1e-3 < 0.02 < in_between["partial"]
    refused = cli("phantom", "-o", tmp_path / "even", *grid, "--supersample", "2", check=False)
    assert refused.returncode == 2 and "invalid choice: 2 (choose from 1, 3, 5)" in refused.stderr
    assert not (tmp_path / "even").exists()


def test_phantom_command_writes_lesion_phantoms_and_their_mask(tmp_path):
    cli("phantom", "-o", tmp_path, "--seed", "90001", "--lesions", "--format", "nrrd")
    read = {name: sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / f"{name}.nrrd")))
            for name in ("ct", "ct_lesions", "mr_lesions", "lesion_mask")}
    lesion = read["lesion_mask"] > 0
    assert lesion.any() and set(np.unique(read["lesion_mask"])) <= {0, 1, 2}
    changed = read["ct"] != read["ct_lesions"]
    near = ndimage.binary_dilation(lesion, iterations=3)  # lesion borders blend into their host
    assert changed[lesion].mean() > 0.9 and not changed[~near].any()
    assert read["mr_lesions"].shape == read["ct"].shape


def test_evaluate_prints_synthrad_metrics(tmp_path):
    cli("phantom", "-o", tmp_path, "--size", "48", "48", "16", "--spacing", "6", "6", "6")
    result = cli("evaluate", "--synthetic", tmp_path / "ct.nii.gz", "--reference", tmp_path / "ct.nii.gz", "--mask",
                 tmp_path / "body.nii.gz")
    assert "MAE 0.0 HU" in result.stdout and "SSIM 1.0000" in result.stdout


def test_demo_runs_the_default_model_on_a_phantom_in_its_labels(tmp_path):
    result = cli("demo", "--output", tmp_path, "--device", "cpu")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == "wholebody-ct" and set(metrics["mean_hu"]) == {"cardiac blood pool", "myocardium"}
    assert metrics["mae"] < 120.0 and metrics["ssim"] > 0.6  # 76 HU and 0.80 in the README
    blood, muscle = metrics["mean_hu"]["cardiac blood pool"], metrics["mean_hu"]["myocardium"]
    assert blood["synthetic"] > muscle["synthetic"] + 100 and abs(blood["synthetic"] - blood["phantom"]) < 100
    assert f"MAE {metrics['mae']:.1f} HU" in result.stdout and "cardiac blood pool" in result.stdout
    labels, synthetic = (sitk.ReadImage(str(tmp_path / name)) for name in ("labels.nii.gz", "synthetic_ct.nii.gz"))
    assert synthetic.GetSpacing() == labels.GetSpacing() == (1.5, 1.5, 3.0)  # the model's own in-plane grid
    assert read_metadata(tmp_path / "synthetic_ct.nii.gz")["descrip"].startswith("SYNTHETIC CT")
    assert (tmp_path / "preview.png").stat().st_size > 10_000


def test_help_lists_the_commands():
    out = cli("--help").stdout
    for command in ("synthesize", "models", "phantom", "evaluate", "demo"):
        assert command in out


def test_every_option_of_every_command_has_a_help_line():
    def parsers(parser: argparse.ArgumentParser):
        yield parser.prog, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    for name, parser in parsers(build_parser()):
        undocumented = [action.option_strings or [action.dest] for action in parser._actions
                        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help]
        assert not undocumented, f"{name}: {undocumented}"


def test_batch_runs_every_case_skips_done_ones_and_reports_bad_ones(tmp_path, tiny_bundle_dir):
    cases = tmp_path / "cases"
    cases.mkdir()
    for name in ("a", "b"):
        sitk.WriteImage(volume_to_sitk(hand_drawn_heart(size=(32, 32, 4))), str(cases / f"{name}.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 8, 8), np.uint16)), str(cases / "empty.nrrd"))
    out = tmp_path / "out"
    first = cli("batch", "synthesize", "--input-dir", cases, "--output-dir", out, "-m", tiny_bundle_dir, check=False)
    assert first.returncode == 2 and "[3/3] empty: failed" in first.stderr and "empty" in first.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a_synthetic_ct.nii.gz", "b_synthetic_ct.nii.gz"]
    assert "[1/3] a: done" in first.stdout
    (cases / "empty.nrrd").unlink()
    second = cli("batch", "synthesize", "--input-dir", cases, "--output-dir", out, "-m", tiny_bundle_dir)
    assert second.stdout.count("skipped") == 2

"""Translation training (GANSynthesisTraining): the CycleGAN image pool, unpaired and paired training from
the command line, and the SynthRAD and folder layouts."""

import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.files.image_files import read_volume, volume_to_sitk, write_volume
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.phantoms.modalities import render_mr
from GANSynthesisLib.phantoms.thorax import generate_phantom
from GANSynthesisTraining.data.paired_cases import phantom_cases
from GANSynthesisTraining.data.volume_files import folder_cases, synthrad_cases
from GANSynthesisTraining.families.cyclegan.model import ImagePool

from support import ROOT


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

"""`generate`: varied label maps and their synthetic CT as an nnU-Net raw dataset, made again the same by seed,
resumed after a stop, every case whole or absent. Real bundled model, real files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from GANSynthesisLib.cli import main
from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.datasets import generate as generate_module
from GANSynthesisLib.datasets.generate import GenerationSettings, folder_sources, generate_dataset
from GANSynthesisLib.datasets.label_variation import VariationSettings, vary_label_map
from GANSynthesisLib.files.image_files import read_metadata, read_volume, write_volume
from GANSynthesisLib.models.registry import find_model


def cases_of(root):
    return sorted(p.name for p in (root / "imagesTr").iterdir())


def test_generate_from_phantoms_makes_an_nnunet_dataset(tmp_path, capsys):
    root = tmp_path / "Dataset500_Synthetic"
    assert main(["generate", "--phantoms", "--output-dir", str(root), "--count", "3", "--seed", "4"]) == 0
    out = capsys.readouterr()
    assert "made 3 case(s)" in out.out
    assert "synthetic_002 written" in out.err  # progress per case
    description = json.loads((root / "dataset.json").read_text())
    assert description["numTraining"] == 3 and description["file_ending"] == ".nii.gz"
    assert description["channel_names"] == {"0": "CT"}
    assert description["labels"]["background"] == 0
    names = description["labels"]  # the default model's whole-body classes, numbered consecutively
    assert sorted(names.values()) == list(range(len(names)))
    assert {"body", "fat", "lung", "bone", "myocardium", "cardiac blood pool", "artery"} <= set(names)
    assert cases_of(root) == [f"synthetic_00{i}_0000.nii.gz" for i in range(3)]
    for index in range(3):
        case = f"synthetic_00{index}"
        image = read_volume(root / "imagesTr" / f"{case}_0000.nii.gz")
        labels = read_volume(root / "labelsTr" / f"{case}.nii.gz")
        assert image.same_geometry(labels)
        assert set(np.unique(labels.array)) <= set(names.values()) and labels.array.max() > 0
        assert labels.spacing == (1.5, 1.5, 3.0)  # whole-body phantoms on the model's in-plane grid
        header = read_metadata(root / "imagesTr" / f"{case}_0000.nii.gz")
        assert header["descrip"].startswith("SYNTHETIC CT GANSynthesis wholebody-ct")
        manifest = json.loads((root / "cases" / f"{case}.json").read_text())
        assert manifest["synthetic"] is True and manifest["seed"] == 4 and manifest["index"] == index
        assert manifest["model"] == "wholebody-ct" and manifest["source"] == f"phantom{80000 + index}"
        assert set(manifest["variation"]) == {"scale", "deformation_mm", "structure", "structure_change_mm", "lesion"}
        # synthetic HU where the label map says blood pool, not a copy of the label values
        blood_pool = labels.array == names["cardiac blood pool"]
        assert image.array[blood_pool].mean() > 100 > image.array[labels.array == 0].mean()


def test_same_seed_same_dataset_other_seed_other_dataset(tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert main(["generate", "--phantoms", "--output-dir", str(tmp_path / name), "--count", "2", "--seed",
                     str(seed), "-q"]) == 0
    for case in ("synthetic_000", "synthetic_001"):
        a, b, c = (sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / n / "labelsTr" / f"{case}.nii.gz")))
                   for n in "abc")
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        images = [read_volume(tmp_path / n / "imagesTr" / f"{case}_0000.nii.gz").array for n in "ab"]
        assert np.array_equal(*images)


def test_a_stopped_run_resumes_and_leaves_no_partial_case(tmp_path, monkeypatch):
    root = tmp_path / "dataset"
    bundle = find_model(None, "synthesize")
    sources = generate_module.phantom_sources(bundle, 3)
    settings = GenerationSettings(3, seed=5)
    calls = []
    real_write = generate_module.write_image_file

    def failing_write(volume, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 4:  # the second case's label map: the process "dies" mid-case
            raise KeyboardInterrupt
        return real_write(volume, path, *args, **kwargs)

    monkeypatch.setattr(generate_module, "write_image_file", failing_write)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(sources, root, bundle, settings)
    assert cases_of(root) == ["synthetic_000_0000.nii.gz"]
    assert sorted(p.name for p in (root / "cases").iterdir()) == ["synthetic_000.json"]
    assert not [p for p in root.rglob(".*")]  # no temporary or lock file left
    monkeypatch.setattr(generate_module, "write_image_file", real_write)
    first = (root / "imagesTr" / "synthetic_000_0000.nii.gz").stat().st_mtime_ns
    made = generate_dataset(sources, root, bundle, settings)
    assert made == ["synthetic_001", "synthetic_002"]
    assert (root / "imagesTr" / "synthetic_000_0000.nii.gz").stat().st_mtime_ns == first  # not made again
    assert json.loads((root / "dataset.json").read_text())["numTraining"] == 3
    with pytest.raises(GANSynthesisError, match="other settings"):
        generate_dataset(sources, root, bundle, GenerationSettings(3, seed=6))
    with pytest.raises(GANSynthesisError, match="other contrast hu"):
        generate_dataset(sources, root, bundle, settings, synthesis_inputs={"contrast_hu": 40.0})


def test_a_folder_of_label_maps_with_user_values_and_names(tmp_path, capsys):
    labels = np.zeros((10, 48, 48), np.uint8)
    labels[2:8, 10:30, 10:30] = 1
    labels[3:7, 15:25, 15:25] = 2
    folder = tmp_path / "maps"
    folder.mkdir()
    for name in ("first", "second"):
        write_volume(Volume(labels, (3.0, 3.0, 3.0)), folder / f"{name}.nii.gz")
    root = tmp_path / "out"
    assert main(["generate", "--input-dir", str(folder), "--output-dir", str(root), "--count", "3",
                 "--labels", "myocardium=1,left ventricle=2", "--contrast", "none", "-q"]) == 0
    description = json.loads((root / "dataset.json").read_text())
    assert description["labels"] == {"background": 0, "myocardium": 1, "left ventricle": 2}
    ventricle = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "labelsTr" / "synthetic_000.nii.gz"))) == 2
    image = read_volume(root / "imagesTr" / "synthetic_000_0000.nii.gz").array
    assert image[ventricle].mean() == pytest.approx(40, abs=0.5)  # the blood pool, without contrast as asked
    sources = [json.loads((root / "cases" / f"synthetic_00{i}.json").read_text())["source"] for i in range(3)]
    assert sources == ["first", "second", "first"]
    assert main(["generate", "--input-dir", str(folder), "--output-dir", str(folder / "inside"), "--count", "1"]) == 2
    assert "is the input folder" in capsys.readouterr().err
    assert not (folder / "inside").exists()


def test_output_folder_holding_something_else_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["generate", "--phantoms", "--output-dir", str(tmp_path), "--count", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_variation_scales_deforms_changes_a_structure_and_moves_a_lesion():
    labels = np.zeros((24, 64, 64), np.uint8)
    labels[4:20, 12:52, 12:52] = 1  # host organ
    labels[10:14, 28:34, 28:34] = 2  # lesion inside it
    labels[4:20, 20:26, 40:46] = 3
    volume = Volume(labels, (2.0, 2.0, 2.0))
    settings = VariationSettings(deformation_mm=4.0, scaling=0.1, structure_change_mm=4.0, lesion_label=2)
    varied, variation = vary_label_map(volume, settings, np.random.default_rng(0))
    again, same = vary_label_map(volume, settings, np.random.default_rng(0))
    assert np.array_equal(varied.array, again.array) and variation == same
    assert varied.same_geometry(volume) and varied.array.dtype == labels.dtype
    assert not np.array_equal(varied.array, labels)
    assert all(0.9 <= s <= 1.1 for s in variation.scale)
    assert variation.structure in (1, 3) and 1 <= abs(variation.structure_change_mm) <= 4
    assert variation.lesion.startswith("moved by")
    assert set(np.unique(varied.array)) == {0, 1, 2, 3}
    host_only = VariationSettings(deformation_mm=0, scaling=0, structure_change_mm=0, lesion_label=5, lesion_host=1)
    added, described = vary_label_map(volume, host_only, np.random.default_rng(1))
    assert described.lesion.startswith("added at") and (added.array == 5).sum() > 0
    assert set(np.unique(added.array[added.array != labels])) == {5}  # only the new lesion changed anything


def test_label_maps_that_cannot_be_varied_are_refused(tmp_path):
    with pytest.raises(GANSynthesisError, match="integer label values"):
        vary_label_map(Volume(np.zeros((2, 4, 4), np.float32)), VariationSettings(), np.random.default_rng(0))
    with pytest.raises(GANSynthesisError, match="empty"):
        vary_label_map(Volume(np.zeros((2, 4, 4), np.uint8)), VariationSettings(), np.random.default_rng(0))
    folder = tmp_path / "maps"
    folder.mkdir()
    write_volume(Volume(np.full((2, 8, 8), 0.5, np.float32)), folder / "ct.nii.gz")
    with pytest.raises(GANSynthesisError, match="no label map"):
        generate_dataset(folder_sources(folder), tmp_path / "out", find_model(None, "synthesize"),
                         GenerationSettings(1))


def test_phantoms_for_a_wholebody_model_are_drawn_in_its_classes(tiny_wholebody_bundle_dir, tmp_path):
    root = tmp_path / "wb"
    assert main(["generate", "--phantoms", "--output-dir", str(root), "--count", "1", "-q",
                 "-m", str(tiny_wholebody_bundle_dir)]) == 0
    labels = json.loads((root / "dataset.json").read_text())["labels"]
    assert {"body", "lung", "bone", "cardiac blood pool", "artery"} <= set(labels)
    assert sorted(labels.values()) == list(range(len(labels)))
    image = read_volume(root / "imagesTr" / "synthetic_000_0000.nii.gz")
    label_map = read_volume(root / "labelsTr" / "synthetic_000.nii.gz")
    assert image.same_geometry(label_map) and image.spacing[:2] == (1.5, 1.5)
    assert labels["lung"] in np.unique(label_map.array)

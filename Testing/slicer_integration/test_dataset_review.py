"""Review and blinded reading of a generated dataset in a real MRML scene (slicer-core): a case's nodes shown and
replaced, decisions recorded (a rejected case gone from the export), a reading session answered slice by slice and
its score in a table node and a CSV."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest
from mrml_scene import hierarchy_item_names, new_scene
from support import until_finished

from GANSynthesisLib.cli import main
from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.datasets.blinded_reading import ReadingSession
from GANSynthesisLib.models.provenance import SYNTHETIC_KEY

slicer = pytest.importorskip("slicer")

from GANSynthesisLib.slicer.dataset_review import READING_KEY, BlindedReadingInScene, DatasetReview  # noqa: E402


@pytest.fixture(scope="module")
def checked_dataset(tmp_path_factory):
    """A 2-case phantom dataset (MM-WHS heart model: small and fast) after a copy check against the phantom CTs
    behind it."""
    base = tmp_path_factory.mktemp("review")
    root, references = base / "dataset", base / "references"
    references.mkdir()
    assert main(["generate", "--phantoms", "--output-dir", str(root), "--count", "2", "-m", "mmwhs-ct",
                 "-q"]) == 0
    for seed in (80000, 80001):
        assert main(["phantom", "--seed", str(seed), "-o", str(base / f"p{seed}")]) == 0
        shutil.copy(base / f"p{seed}" / "ct.nii.gz", references / f"phantom{seed}.nii.gz")
    assert main(["copy-check", "--dataset", str(root), "--references", str(references)]) == 0
    return root, references


def test_a_review_session_shows_cases_and_records_decisions(checked_dataset, tmp_path):
    root = tmp_path / "dataset"
    shutil.copytree(checked_dataset[0], root)
    scene = new_scene()
    review = DatasetReview(scene, root)
    nodes = review.show()
    assert set(nodes) == {"synthetic", "labels", "nearest"}
    assert nodes["synthetic"].GetAttribute(SYNTHETIC_KEY) == "true"
    assert "synthetic CT" in nodes["synthetic"].GetName() and "nearest real: phantom8000" in nodes["nearest"].GetName()
    segment_names = {nodes["labels"].GetSegmentation().GetNthSegment(i).GetName()
                     for i in range(nodes["labels"].GetSegmentation().GetNumberOfSegments())}
    assert {"left ventricle", "myocardium"} <= segment_names
    assert "GANSynthesis review: synthetic_000" in hierarchy_item_names(scene)
    assert "case 1 of 2" in review.status and "unreviewed 2" in review.status
    with pytest.raises(GANSynthesisError, match="Say why"):
        review.decide(accept=False)
    review.decide(accept=False, reason="implausible anatomy", reviewer="Dr A")
    assert review.index == 1  # on to the next unreviewed case
    shown = review.show()
    assert not scene.IsNodePresent(nodes["synthetic"])  # the previous case left the scene
    assert "GANSynthesis review: synthetic_000" not in hierarchy_item_names(scene)
    assert "synthetic_001" in shown["synthetic"].GetName()
    review.decide(accept=True, reviewer="Dr A")
    assert "rejected 1" in review.status and "unreviewed 0" in review.status
    # the export: the rejected case is out of nnU-Net's folders and dataset.json, its decision recorded
    assert sorted(p.name for p in (root / "imagesTr").iterdir()) == ["synthetic_001_0000.nii.gz"]
    assert sorted(p.name for p in (root / "labelsTr").iterdir()) == ["synthetic_001.nii.gz"]
    assert json.loads((root / "dataset.json").read_text())["numTraining"] == 1
    review_record = json.loads((root / "cases" / "synthetic_000.json").read_text())["review"]
    assert review_record["decision"] == "rejected" and review_record["reason"] == "implausible anatomy"
    assert review_record["reviewer"] == "Dr A"
    review.clear()
    assert not any(name.startswith("GANSynthesis review") for name in hierarchy_item_names(scene))


def test_a_blinded_reading_in_the_scene_is_scored_right(checked_dataset, tmp_path):
    root, references = checked_dataset
    scene = new_scene()
    path = tmp_path / "reading.json"
    reading = BlindedReadingInScene.start(scene, root, [references], path, reader="Dr B", slices_per_image=2, seed=1)
    total = len(reading.session.items)
    assert total == 8 and {i.truth for i in reading.session.items} == {"real", "synthetic"}
    answers = []
    while (node := reading.show_next()) is not None:
        item = reading.current
        assert node.GetName() == f"Blinded reading {item.item}"  # nothing in the name or attributes gives it away
        assert node.GetAttribute(SYNTHETIC_KEY) is None and node.GetAttribute(READING_KEY) == str(path)
        assert slicer.util.arrayFromVolume(node).shape[0] == 1
        wrong = len(answers) == 0  # the reader gets the first slice wrong, the rest right
        said = ("real" if item.truth == "synthetic" else "synthetic") if wrong else item.truth
        reading.answer(said, 3)
        answers.append(said == item.truth)
        assert not scene.IsNodePresent(node)
    assert sum(answers) == total - 1
    resumed = BlindedReadingInScene.start(scene, root, [references], path)  # the saved session, not a new one
    assert resumed.session.progress == (total, total)
    table = resumed.result()
    rows = {table.GetCellText(r, 0): table.GetCellText(r, 1) for r in range(table.GetNumberOfRows())}
    expected_p = min(1.0, 2 * sum(math.comb(total, k) for k in range(total - 1, total + 1)) / 2 ** total)
    assert rows["correct"] == str(total - 1) and rows["accuracy"] == f"{(total - 1) / total:.3f}"
    assert float(rows["p-value (binomial, vs 0.5)"]) == pytest.approx(expected_p, rel=1e-3)
    with open(path.with_suffix(".csv")) as stream:
        assert len([r for r in csv.reader(stream) if r and r[0].isdigit()]) == total
    assert ReadingSession.load(path).score().correct == total - 1
    with pytest.raises(GANSynthesisError, match="Every slice"):
        resumed.answer("real", 3)


def test_reading_slices_are_one_slice_volumes_at_their_place(checked_dataset):
    from GANSynthesisLib.files.image_files import read_volume
    from GANSynthesisLib.slicer.dataset_review import one_slice

    volume = read_volume(checked_dataset[1] / "phantom80000.nii.gz")
    piece = one_slice(volume, 20)
    assert piece.array.shape == (1, *volume.array.shape[1:])
    assert np.array_equal(piece.array[0], volume.array[20])
    assert np.allclose(piece.index_to_physical((3, 4, 0)), volume.index_to_physical((3, 4, 20)))


def test_the_module_panel_reviews_a_dataset_and_runs_a_blinded_reading(checked_dataset, widget, scene, tmp_path):
    root = tmp_path / "dataset"
    shutil.copytree(checked_dataset[0], root)
    ui = widget.ui
    assert not ui.acceptCaseButton.enabled and not ui.answerRealButton.enabled
    # in testing mode Slicer's tryWithErrorDisplay raises instead of showing the message box
    with pytest.raises(GANSynthesisError, match="Choose the dataset folder first"):
        widget.onReviewDataset()
    ui.datasetPathLineEdit.text = str(root)
    ui.reviewDatasetButton.click()
    assert ui.acceptCaseButton.enabled and "case 1 of 2" in ui.reviewStatusLabel.text
    names = [scene.GetNthNode(i).GetName() for i in range(scene.GetNumberOfNodes())]
    assert "synthetic_000 synthetic CT" in names
    with pytest.raises(GANSynthesisError, match="Say why"):
        widget.onDecideCase(False)  # no reason given: refused, nothing recorded
    assert "review" not in json.loads((root / "cases" / "synthetic_000.json").read_text())
    ui.reviewerLineEdit.text = "Dr C"
    ui.rejectReasonLineEdit.text = "streaks"
    ui.rejectCaseButton.click()
    assert ui.rejectReasonLineEdit.text == "" and "case 2 of 2" in ui.reviewStatusLabel.text
    ui.acceptCaseButton.click()
    assert "rejected 1" in ui.reviewStatusLabel.text and "unreviewed 0" in ui.reviewStatusLabel.text
    assert json.loads((root / "dataset.json").read_text())["numTraining"] == 1
    assert json.loads((root / "cases" / "synthetic_000.json").read_text())["review"]["reviewer"] == "Dr C"

    ui.referencesPathLineEdit.text = str(checked_dataset[1])
    ui.startReadingButton.click()
    assert ui.answerRealButton.enabled and "Slice 1 of" in ui.readingStatusLabel.text
    session_path = root / "reading_Dr_C.json"
    total = len(ReadingSession.load(session_path).items)
    ui.realismSpinBox.value = 4
    for _ in range(total):
        ui.answerSyntheticButton.click()
    assert f"All {total} slices read" in ui.readingStatusLabel.text
    session = ReadingSession.load(session_path)
    assert all(item.answer == "synthetic" and item.realism == 4 for item in session.items)
    ui.readingResultButton.click()
    synthetic = sum(item.truth == "synthetic" for item in session.items)
    assert f"correct: {synthetic}" in ui.readingStatusLabel.text
    assert session_path.with_suffix(".csv").exists()


def test_generate_runs_in_a_child_process_and_reports(tmp_path):
    from GANSynthesisLib.slicer.command_run import CommandRun

    status = until_finished(CommandRun(["generate", "--phantoms", "--output-dir", str(tmp_path / "d"), "--count", "2"]))
    assert status.error is None and "made 2 case(s)" in status.output and status.fraction == 1.0
    assert json.loads((tmp_path / "d" / "dataset.json").read_text())["numTraining"] == 2
    (tmp_path / "file").write_text("not a folder")
    failed = until_finished(CommandRun(["generate", "--phantoms", "--output-dir", str(tmp_path / "file"),
                                        "--count", "1"]))
    assert failed.error is not None and "is a file" in failed.error


def test_cancelled_generation_leaves_only_whole_cases(tmp_path):
    import time

    from GANSynthesisLib.slicer.command_run import CommandRun

    root = tmp_path / "d"
    run = CommandRun(["generate", "--phantoms", "--output-dir", str(root), "--count", "200"])
    def made():
        return sorted(p.name[:-5] for p in (root / "cases").glob("synthetic_*.json"))  # not the hidden partial files

    deadline = time.monotonic() + 120
    while not (root / "cases").is_dir() or not made():
        assert time.monotonic() < deadline and not run.poll().finished
        time.sleep(0.05)
    run.cancel()
    assert run.process.poll() is not None and run.status.error == "cancelled"
    made = made()
    assert made and len(made) < 200
    assert sorted(p.name for p in (root / "imagesTr").iterdir()) == [f"{c}_0000.nii.gz" for c in made]
    assert not list(root.rglob(".*"))  # no half-written file or lock left


def test_the_panel_generates_a_dataset_without_blocking(widget, tmp_path):
    import time

    import qt

    widget.ui.datasetPathLineEdit.text = str(tmp_path / "made")
    widget.ui.generateCountSpinBox.value = 2
    widget.ui.generateButton.click()
    assert widget.ui.generateButton.text == "Cancel"
    deadline = time.monotonic() + 120
    while widget._generation is not None:
        assert time.monotonic() < deadline, "timed out"
        qt.QApplication.processEvents()
        time.sleep(0.02)
    assert "made 2 case(s)" in widget.ui.generateStatusLabel.text
    assert widget.ui.generateButton.text == "Generate dataset"
    assert json.loads((tmp_path / "made" / "dataset.json").read_text())["numTraining"] == 2

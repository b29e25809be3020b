"""The copy check (an exact copy of a reference is flagged and can be dropped), physician review (a rejected case
leaves the dataset, a reason is required) and blinded reading (order, blinding, scoring on a known answer sheet)."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest

from GANSynthesisLib.cli import main
from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.datasets.blinded_reading import ReadingSession, body_slices
from GANSynthesisLib.datasets.copy_check import best_matches, matched_ssim, slice_signatures
from GANSynthesisLib.datasets.review import decide, next_unreviewed, review_cases
from GANSynthesisLib.files.image_files import read_volume


@pytest.fixture(scope="module")
def dataset_and_references(tmp_path_factory):
    """A 3-case phantom dataset and the phantom CTs behind its label maps (the 'real' references)."""
    root = tmp_path_factory.mktemp("copy") / "dataset"
    references = root.parent / "references"
    assert main(["generate", "--phantoms", "--output-dir", str(root), "--count", "3", "-q"]) == 0
    for seed in (80000, 80001, 80002):
        assert main(["phantom", "--seed", str(seed), "-o", str(root.parent / f"p{seed}")]) == 0
        references.mkdir(exist_ok=True)
        shutil.copy(root.parent / f"p{seed}" / "ct.nii.gz", references / f"phantom{seed}.nii.gz")
    return root, references


def fresh_copy(source, tmp_path):
    root = tmp_path / "dataset"
    shutil.copytree(source, root)
    return root


def test_an_exact_copy_of_a_reference_is_flagged_and_dropped(dataset_and_references, tmp_path, capsys):
    source, references = dataset_and_references
    root = fresh_copy(source, tmp_path)
    shutil.copy(references / "phantom80001.nii.gz", root / "imagesTr" / "synthetic_001_0000.nii.gz")  # a "copy"
    assert main(["copy-check", "--dataset", str(root), "--references", str(references), "--drop"]) == 0
    assert "1 of 3 case(s) flagged: synthetic_001; dropped 1" in capsys.readouterr().out
    report = json.loads((root / "copy_check" / "report.json").read_text())
    rows = {row["case"]: row for row in report["cases"]}
    assert rows["synthetic_001"]["mae_hu"] == 0 and rows["synthetic_001"]["ssim"] == pytest.approx(1.0)
    assert rows["synthetic_001"]["reference"] == "phantom80001"
    assert len(report["real_vs_real_hu"]) == 3
    assert report["threshold_hu"] == pytest.approx(0.5 * min(report["real_vs_real_hu"]), abs=0.01)
    assert all(rows[c]["mae_hu"] > report["threshold_hu"] for c in ("synthetic_000", "synthetic_002"))
    # dropped: out of nnU-Net's sight, kept under rejected/, the reason recorded
    assert not (root / "imagesTr" / "synthetic_001_0000.nii.gz").exists()
    assert (root / "rejected" / "imagesTr" / "synthetic_001_0000.nii.gz").exists()
    assert (root / "rejected" / "labelsTr" / "synthetic_001.nii.gz").exists()
    assert json.loads((root / "dataset.json").read_text())["numTraining"] == 2
    manifest = json.loads((root / "cases" / "synthetic_001.json").read_text())
    assert manifest["review"]["decision"] == "rejected" and "near-copy of reference phantom80001" in \
        manifest["review"]["reason"] and manifest["copy_check"]["flagged"] is True
    assert (root / "copy_check" / "nearest_distances.png").read_bytes()[:4] == b"\x89PNG"
    with open(root / "copy_check" / "distances.csv") as stream:
        assert len(list(csv.DictReader(stream))) == 3
    assert "synthetic_001" in (root / "copy_check" / "report.md").read_text()


def test_best_match_distance_is_zero_for_a_copy_and_aligns_the_body(dataset_and_references):
    _, references = dataset_and_references
    ct = read_volume(references / "phantom80000.nii.gz").array
    shifted = np.full_like(ct, -1000.0)
    shifted[:, 5:, 7:] = ct[:, :-5, :-7]  # the same body elsewhere in the field of view
    a, b = slice_signatures(ct), slice_signatures(shifted)
    mae, best = best_matches(a, a)
    assert (mae, matched_ssim(a, a, best)) == (0.0, pytest.approx(1.0))
    assert best_matches(a, b)[0] < 15
    other = slice_signatures(read_volume(references / "phantom80002.nii.gz").array)
    assert best_matches(a, other)[0] > 3 * best_matches(a, b)[0]


def test_review_records_decisions_and_rejected_cases_leave_the_dataset(dataset_and_references, tmp_path):
    root = fresh_copy(dataset_and_references[0], tmp_path)
    cases = review_cases(root)
    assert [c.decision for c in cases] == ["unreviewed"] * 3 and next_unreviewed(cases) == 0
    with pytest.raises(GANSynthesisError, match="Say why"):
        decide(root, "synthetic_000", accept=False)
    accepted = decide(root, "synthetic_000", accept=True, reviewer="Dr A")
    rejected = decide(root, "synthetic_002", accept=False, reason="no left ventricle", reviewer="Dr A")
    assert accepted.decision == "accepted" and accepted.image.exists()
    assert rejected.decision == "rejected" and rejected.image.parent.parent.name == "rejected"
    assert rejected.image.exists() and not (root / "imagesTr" / "synthetic_002_0000.nii.gz").exists()
    assert json.loads((root / "dataset.json").read_text())["numTraining"] == 2
    assert next_unreviewed(review_cases(root)) == 1
    assert json.loads((root / "cases" / "synthetic_002.json").read_text())["review"]["reason"] == "no left ventricle"
    back = decide(root, "synthetic_002", accept=True, reviewer="Dr B")  # changed mind: back into the dataset
    assert back.image == root / "imagesTr" / "synthetic_002_0000.nii.gz" and back.image.exists()
    assert json.loads((root / "dataset.json").read_text())["numTraining"] == 3


def known_session(tmp_path):
    real = [(f"real{i}.nii.gz", i) for i in range(5)]
    synthetic = [(f"synthetic{i}.nii.gz", i) for i in range(5)]
    return ReadingSession.create(real, synthetic, reader="reader 1", seed=3)


def test_blinded_reading_order_blinding_and_score_on_a_known_answer_sheet(tmp_path):
    session = known_session(tmp_path)
    again = known_session(tmp_path)
    assert [i.image for i in session.items] == [i.image for i in again.items]  # the seed fixes the order
    assert [i.truth for i in session.items] != ["real"] * 5 + ["synthetic"] * 5  # shuffled
    assert [i.item for i in session.items] == [f"item_{n:02d}" for n in range(1, 11)]  # ids say nothing
    path = tmp_path / "reading.json"
    wrong_item = session.items[3].item
    for item in session.items:  # 9 of 10 right; the one wrong is a synthetic slice called real, or the reverse
        said = item.truth if item.item != wrong_item else ("real" if item.truth == "synthetic" else "synthetic")
        session.answer(item.item, said, 4 if item.truth == "real" else 2)
        session.save(path)
    loaded = ReadingSession.load(path)
    assert loaded.next_item() is None and loaded.progress == (10, 10)
    score = loaded.score()
    assert (score.read, score.correct, score.accuracy) == (10, 9, 0.9)
    expected_p = 2 * sum(math.comb(10, k) for k in (9, 10)) / 2 ** 10  # two-sided, symmetric at p = ½
    assert score.p_value == pytest.approx(expected_p) == pytest.approx(0.021484375)
    assert score.synthetic_called_real == (1 if session.items[3].truth == "synthetic" else 0)
    assert (score.mean_realism_real, score.mean_realism_synthetic) == (4.0, 2.0)
    loaded.write_csv(tmp_path / "reading.csv")
    rows = list(csv.reader(open(tmp_path / "reading.csv")))
    assert rows[0][:5] == ["order", "item", "image", "slice", "truth"] and len(rows[1:11]) == 10
    assert ["accuracy", "0.900"] in rows and ["p-value (binomial, vs 0.5)", "0.02148"] in rows


def test_reading_refuses_bad_answers_and_scores_part_of_a_session(tmp_path, capsys):
    session = known_session(tmp_path)
    first = session.next_item()
    with pytest.raises(GANSynthesisError, match="'real' or 'synthetic'"):
        session.answer(first.item, "fake", 3)
    with pytest.raises(GANSynthesisError, match="1 \\(clearly artificial\\) to 5"):
        session.answer(first.item, "real", 6)
    with pytest.raises(GANSynthesisError, match="No slice has been read"):
        session.score()
    session.answer(first.item, first.truth, 5)
    assert session.next_item() is session.items[1] and session.progress == (1, 10)
    path = tmp_path / "s.json"
    session.save(path)
    assert main(["reading-score", "--session", str(path), "--csv", str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out
    assert "slices read: 1" in out and "accuracy: 1.000" in out and "p-value (binomial, vs 0.5): 1" in out


def test_body_slices_come_from_the_middle_of_the_body(dataset_and_references):
    ct = read_volume(dataset_and_references[1] / "phantom80000.nii.gz").array
    picked = body_slices(ct, 5, np.random.default_rng(0))
    assert len(set(picked)) == 5 and all(0 < k < len(ct) - 1 for k in picked)

"""Physician review of a generated dataset: the cases in order with their files, status and nearest real image;
decisions go through :func:`.nnunet_dataset.record_review` (a rejected case leaves the exported dataset)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .nnunet_dataset import case_names, image_path, label_path, read_case, record_review


@dataclass(frozen=True)
class ReviewCase:
    """One case as a reviewer sees it."""

    name: str
    image: Path
    label: Path
    decision: str  # "unreviewed", "accepted" or "rejected"
    reason: str
    nearest_reference: Path | None  # from the copy check, when it ran
    nearest_distance_hu: float | None
    flagged: bool

    @property
    def summary(self) -> str:
        near = (f"nearest real image {self.nearest_reference.name}: {self.nearest_distance_hu:.1f} HU"
                + (" (flagged as near-copy)" if self.flagged else "") if self.nearest_reference else
                "copy check not run")
        said = self.decision + (f" ({self.reason})" if self.reason else "")
        return f"{self.name}: {said}; {near}"


def review_cases(root: Path) -> list[ReviewCase]:
    """Every case of the dataset, with where its files are now and what was decided."""
    cases = []
    for name in case_names(root):
        manifest = read_case(root, name)
        review = manifest.get("review", {})
        rejected = review.get("decision") == "rejected"
        check = manifest.get("copy_check")
        reference = Path(check["reference_path"]) if check else None
        cases.append(ReviewCase(name, image_path(root, name, rejected), label_path(root, name, rejected),
                                review.get("decision", "unreviewed"), review.get("reason", ""), reference,
                                check["mae_hu"] if check else None, bool(check and check["flagged"])))
    return cases


def next_unreviewed(cases: list[ReviewCase], after: int = -1) -> int | None:
    """The index of the first unreviewed case after ``after`` (wrapping round), or None when all are reviewed."""
    count = len(cases)
    for step in range(1, count + 1):
        index = (after + step) % count
        if cases[index].decision == "unreviewed":
            return index
    return None


def decide(root: Path, case: str, accept: bool, reason: str = "", reviewer: str = "") -> ReviewCase:
    """Record Accept or Reject (with its reason) for ``case``; the case as it is now."""
    record_review(root, case, "accepted" if accept else "rejected", reason, reviewer)
    return next(c for c in review_cases(root) if c.name == case)

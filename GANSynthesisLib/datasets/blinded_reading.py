"""A blinded reading: real and synthetic axial slices in random order; the reader says real or synthetic and rates
realism 1–5. The score is the reader's accuracy with a two-sided binomial test against guessing (p = ½).

The session (order, truth, answers) is one JSON file, saved after every answer, so a reading can stop and go on.
What a viewer may show of an item is its image and its place in the order, never its truth.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import GANSynthesisError
from .nnunet_dataset import now, read_json, write_json

ANSWERS = ("real", "synthetic")
REALISM = range(1, 6)


@dataclass
class ReadingItem:
    """One slice to read: where it comes from, its truth, and the reader's answer once given."""

    item: str  # blinded id, e.g. "item_07"
    image: str  # image file
    slice_index: int  # axial slice (k)
    truth: str  # "real" or "synthetic"
    answer: str | None = None
    realism: int | None = None
    answered: str | None = None  # when


@dataclass
class ReadingScore:
    """The reader's result."""

    read: int
    correct: int
    accuracy: float
    p_value: float  # two-sided binomial test against p = ½
    synthetic_called_real: int  # synthetic slices the reader took for real
    mean_realism_real: float | None
    mean_realism_synthetic: float | None

    def rows(self) -> list[tuple[str, str]]:
        """(measure, value) rows for a table."""
        def number(value: float | None, digits: int) -> str:
            return "–" if value is None else f"{value:.{digits}f}"

        return [("slices read", str(self.read)), ("correct", str(self.correct)),
                ("accuracy", number(self.accuracy, 3)), ("p-value (binomial, vs 0.5)", f"{self.p_value:.4g}"),
                ("synthetic called real", str(self.synthetic_called_real)),
                ("mean realism, real slices", number(self.mean_realism_real, 2)),
                ("mean realism, synthetic slices", number(self.mean_realism_synthetic, 2))]


@dataclass
class ReadingSession:
    """The items in reading order and the reader's answers."""

    reader: str
    seed: int
    items: list[ReadingItem]
    created: str = field(default_factory=now)

    @classmethod
    def create(cls, real: list[tuple[str, int]], synthetic: list[tuple[str, int]], reader: str = "",
               seed: int = 0) -> "ReadingSession":
        """A session over (image, slice) pairs, shuffled by ``seed``; item ids say nothing of the truth."""
        if not real or not synthetic:
            raise GANSynthesisError("A blinded reading needs both real and synthetic slices; give images of each.")
        pool = [(image, k, "real") for image, k in real] + [(image, k, "synthetic") for image, k in synthetic]
        order = np.random.default_rng(seed).permutation(len(pool))
        digits = len(str(len(pool)))
        items = [ReadingItem(f"item_{n + 1:0{digits}d}", str(pool[i][0]), int(pool[i][1]), pool[i][2])
                 for n, i in enumerate(order)]
        return cls(reader, seed, items)

    @classmethod
    def load(cls, path: Path) -> "ReadingSession":
        content = read_json(path)
        return cls(content["reader"], content["seed"], [ReadingItem(**item) for item in content["items"]],
                   content["created"])

    def save(self, path: Path) -> None:
        write_json(path, {"reader": self.reader, "seed": self.seed, "created": self.created,
                          "items": [asdict(item) for item in self.items]})

    def next_item(self) -> ReadingItem | None:
        """The first item not yet answered (None when the reading is done)."""
        return next((item for item in self.items if item.answer is None), None)

    @property
    def progress(self) -> tuple[int, int]:
        """(answered, total)."""
        return sum(item.answer is not None for item in self.items), len(self.items)

    def answer(self, item_id: str, answer: str, realism: int) -> None:
        """Record the reader's answer for one item."""
        if answer not in ANSWERS:
            raise GANSynthesisError(f"The answer is 'real' or 'synthetic', not {answer!r}.")
        if realism not in REALISM:
            raise GANSynthesisError(f"Realism is rated 1 (clearly artificial) to 5 (indistinguishable), "
                                    f"not {realism!r}.")
        item = next((i for i in self.items if i.item == item_id), None)
        if item is None:
            raise GANSynthesisError(f"No item {item_id!r} in this reading session.")
        item.answer, item.realism, item.answered = answer, int(realism), now()

    def score(self) -> ReadingScore:
        """Accuracy over the answered items, the binomial test and the mean realism per truth."""
        from scipy.stats import binomtest

        done = [item for item in self.items if item.answer is not None]
        if not done:
            raise GANSynthesisError("No slice has been read yet; answer at least one before scoring.")
        correct = sum(item.answer == item.truth for item in done)

        def mean_realism(truth: str) -> float | None:
            ratings = [item.realism for item in done if item.truth == truth]
            return float(np.mean(ratings)) if ratings else None

        return ReadingScore(len(done), correct, correct / len(done),
                            float(binomtest(correct, len(done), 0.5).pvalue),
                            sum(item.truth == "synthetic" and item.answer == "real" for item in done),
                            mean_realism("real"), mean_realism("synthetic"))

    def write_csv(self, path: Path) -> None:
        """One row per item (order, id, image, slice, truth, answer, realism, correct), then the score."""
        with open(path, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["order", "item", "image", "slice", "truth", "answer", "realism", "correct"])
            for order, item in enumerate(self.items, start=1):
                correct = "" if item.answer is None else int(item.answer == item.truth)
                writer.writerow([order, item.item, item.image, item.slice_index, item.truth, item.answer or "",
                                 item.realism or "", correct])
            writer.writerow([])
            for measure, value in self.score().rows():
                writer.writerow([measure, value])


def body_slices(ct: np.ndarray, count: int, rng: np.random.Generator) -> list[int]:
    """``count`` distinct axial slices (fewer if the image has fewer) from the middle 80 % of the body's extent."""
    from ..evaluation.image_metrics import body_mask_from_ct

    rows = np.nonzero(body_mask_from_ct(ct).reshape(len(ct), -1).any(1))[0]
    if len(rows) == 0:
        raise GANSynthesisError("The image holds no body (no voxel above -500 HU); is it a CT?")
    low, high = rows[0], rows[-1]
    margin = int(0.1 * (high - low))
    candidates = np.arange(low + margin, high - margin + 1)
    return sorted(int(k) for k in rng.choice(candidates, min(count, len(candidates)), replace=False))

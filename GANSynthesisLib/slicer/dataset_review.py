"""A generated dataset in the scene: physician review (each case's synthetic CT with its labels and nearest real
image, Accept / Reject) and blinded reading (one slice at a time, real or synthetic hidden, the result as a table).
The decisions and answers are kept by :mod:`GANSynthesisLib.datasets`; this module only shows them in MRML."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np

from ..core.errors import GANSynthesisError
from ..core.volume import Volume
from ..datasets.blinded_reading import ReadingItem, ReadingSession, body_slices
from ..datasets.nnunet_dataset import DATASET_JSON, read_case, read_json
from ..datasets.review import ReviewCase, decide, next_unreviewed, review_cases
from ..files.case_folder import image_cases
from ..files.image_files import read_volume
from ..models.provenance import PREFIX, SYNTHETIC_KEY
from .mrml import add_segmentation, add_text_table, add_volume, put_in_folder, remove_folder

READING_KEY = "GANSynthesis.BlindedReading"  # on the one slice shown to a reader: the session file


def label_colour(index: int) -> tuple[float, float, float]:
    """A distinct colour per label (golden-angle hues)."""
    return colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.65, 0.9)


class DatasetReview:
    """Steps through a generated dataset's cases; shows one case at a time in a folder of its own."""

    def __init__(self, scene, root: str | Path) -> None:
        self.scene, self.root = scene, Path(root)
        self.cases = review_cases(self.root)
        if not self.cases:
            raise GANSynthesisError(f"{self.root} holds no cases; make some with `generate`.")
        labels = read_json(self.root / DATASET_JSON)["labels"]
        self.segments = {value: (name, label_colour(value)) for name, value in labels.items() if value}
        self.index = next_unreviewed(self.cases) or 0
        self._folder = 0

    @property
    def case(self) -> ReviewCase:
        return self.cases[self.index]

    def show(self, index: int | None = None) -> dict:
        """Put case ``index`` (default: the current one) into the scene, replacing the case shown before; its
        nodes by role: 'synthetic', 'labels' and, after a copy check, 'nearest'."""
        if index is not None:
            self.index = index % len(self.cases)
        self.clear()
        case = self.case
        made = read_case(self.root, case.name)
        marks = {SYNTHETIC_KEY: "true", PREFIX + "Model": made["model"], PREFIX + "ModelVersion": made["model_version"],
                 PREFIX + "Source": made["source"]}
        nodes = {"synthetic": add_volume(self.scene, read_volume(case.image), f"{case.name} synthetic CT", marks, "ct")}
        nodes["labels"] = add_segmentation(self.scene, read_volume(case.label), self.segments,
                                           f"{case.name} labels", {})
        if case.nearest_reference and case.nearest_reference.exists():
            nodes["nearest"] = add_volume(self.scene, read_volume(case.nearest_reference),
                                          f"{case.name} nearest real: {case.nearest_reference.name}",
                                          {"GANSynthesis.NearestDistanceHU": case.nearest_distance_hu}, "ct")
        self._folder = put_in_folder(self.scene, nodes.values(), f"GANSynthesis review: {case.name}")
        return nodes

    def clear(self) -> None:
        """Remove the case shown (its folder and nodes)."""
        remove_folder(self.scene, self._folder)
        self._folder = 0

    def decide(self, accept: bool, reason: str = "", reviewer: str = "") -> ReviewCase:
        """Record the decision for the case shown and move on to the next unreviewed one (if any)."""
        decided = decide(self.root, self.case.name, accept, reason, reviewer)
        self.cases = review_cases(self.root)
        following = next_unreviewed(self.cases, self.index)
        if following is not None:
            self.index = following
        return decided

    @property
    def status(self) -> str:
        counts = {d: sum(c.decision == d for c in self.cases) for d in ("accepted", "rejected", "unreviewed")}
        return (f"case {self.index + 1} of {len(self.cases)} — {self.case.summary}. Accepted {counts['accepted']}, "
                f"rejected {counts['rejected']}, unreviewed {counts['unreviewed']}.")


def reading_pool(root: Path, references: list[Path], slices_per_image: int,
                 seed: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(image, slice) pairs to read: from the dataset's cases (synthetic) and the reference images (real)."""
    rng = np.random.default_rng(seed)
    synthetic_images = sorted((root / "imagesTr").glob("*_0000.nii.gz"))
    real_images = [path for folder in references for _, path in
                   (image_cases(folder) if folder.is_dir() else [(folder.name, folder)])]
    pools = []
    for images in (real_images, synthetic_images):
        pools.append([(str(path), k) for path in images
                      for k in body_slices(read_volume(path).array, slices_per_image, rng)])
    return pools[0], pools[1]


class BlindedReadingInScene:
    """A reading session shown one slice at a time; the session file is saved after every answer."""

    def __init__(self, scene, session: ReadingSession, path: str | Path) -> None:
        self.scene, self.session, self.path = scene, session, Path(path)
        self._node = None

    @classmethod
    def start(cls, scene, root: str | Path, references: list[str | Path], path: str | Path, reader: str = "",
              slices_per_image: int = 2, seed: int = 0) -> "BlindedReadingInScene":
        """A new session over the dataset's images and the references (or the saved one at ``path``, resumed)."""
        path = Path(path)
        if path.exists():
            return cls(scene, ReadingSession.load(path), path)
        real, synthetic = reading_pool(Path(root), [Path(r) for r in references], slices_per_image, seed)
        session = ReadingSession.create(real, synthetic, reader, seed)
        session.save(path)
        return cls(scene, session, path)

    def show_next(self):
        """The next unanswered slice as a one-slice volume node (its truth hidden), or None when all are read."""
        self._remove_shown()
        item = self.session.next_item()
        if item is None:
            return None
        self._node = add_volume(self.scene, one_slice(read_volume(item.image), item.slice_index),
                                f"Blinded reading {item.item}", {READING_KEY: str(self.path)}, "ct")
        return self._node

    @property
    def current(self) -> ReadingItem | None:
        return self.session.next_item()

    def answer(self, answer: str, realism: int) -> None:
        """Record the answer for the slice shown, save the session and remove the slice from the scene."""
        item = self.current
        if item is None:
            raise GANSynthesisError("Every slice of this reading has been answered.")
        self.session.answer(item.item, answer, realism)
        self.session.save(self.path)
        self._remove_shown()

    def _remove_shown(self) -> None:
        if self._node is not None and self.scene.IsNodePresent(self._node):
            self.scene.RemoveNode(self._node)
        self._node = None

    def result(self):
        """The score as a table node (measure, value), and the items with the score in a CSV beside the session."""
        score = self.session.score()
        self.session.write_csv(self.path.with_suffix(".csv"))
        return add_text_table(self.scene, f"Blinded reading {self.session.reader or ''}".strip(),
                              ("measure", "value"), score.rows(), {"GANSynthesis.ReadingSession": str(self.path)})


def one_slice(volume: Volume, k: int) -> Volume:
    """Axial slice ``k`` of ``volume`` as a one-slice volume at its place in space."""
    origin = tuple(volume.index_to_physical((0, 0, k)))
    return Volume(volume.array[k:k + 1].copy(), volume.spacing, origin, volume.direction)


def reading_session_path(root: str | Path, reader: str) -> Path:
    """Where a reader's session of a dataset is kept: reading_<reader>.json in the dataset folder."""
    name = "".join(c if c.isalnum() else "_" for c in reader.strip()) or "reader"
    return Path(root) / f"reading_{name}.json"

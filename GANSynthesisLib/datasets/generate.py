"""Generate a synthetic training dataset: N cases, each a varied label map and its synthetic CT from a bundled
synthesis model, written in nnU-Net's raw layout (:mod:`.nnunet_dataset`).

Case i comes from source ``i mod len(sources)`` (a user's label map, or a phantom drawn on the fly) with the random
generator ``(seed, i)``, so a rerun with the same seed makes the same dataset and a stopped run resumes where it
stopped: each case appears whole (image, label, manifest) or not at all.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..anatomy.mmwhs_structures import MMWHS_LABELS
from ..anatomy.totalsegmentator_classes import CLASS_MAPS
from ..anatomy.wholebody_classes import CLASSES, MODEL_VALUE_BASE, recognise_numbering, takes_whole_body
from ..core.errors import GANSynthesisError
from ..core.volume import Volume
from ..engine.inference import InferenceOptions
from ..files.case_folder import image_cases
from ..files.image_files import read_volume, write_image_file
from ..files.output_set import OutputSet, check_output_folder
from ..models.bundle import ModelBundle
from ..models.provenance import VARIED_FROM_KEY, file_description, synthetic_metadata
from ..tasks.catalogue import get_task
from ..tasks.synthesis.contrast_phases import DEFAULT_PHASE, PHASES
from .label_variation import VariationSettings, vary_label_map
from .nnunet_dataset import (GENERATION_JSON, image_path, json_text, label_path, manifest_path, now, read_json,
                             write_dataset_json, write_json)

PHANTOM_SEED_BASE = 80000  # phantoms drawn for datasets: seeds no bundled model trained on


@dataclass(frozen=True)
class LabelSource:
    """Where case label maps come from: a name, how to read it, and the real image behind it (if known)."""

    name: str
    load: Callable[[], Volume]
    reference: str = ""  # the real (or phantom) CT the label map was drawn from, for the copy check
    values: tuple[int, ...] = ()  # its label values when known without reading it


@dataclass
class GenerationSettings:
    """Everything that decides the dataset's content (recorded in generation.json)."""

    count: int
    seed: int = 0
    variation: VariationSettings = field(default_factory=VariationSettings)
    label_mapping: dict[str, int] = field(default_factory=dict)  # --labels: the user's names for their values

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "variation": asdict(self.variation), "label_mapping": self.label_mapping}


def folder_sources(folder: Path) -> list[LabelSource]:
    """One source per label map (image file or DICOM folder) in ``folder``."""
    return [LabelSource(name, lambda path=path: read_volume(path), "") for name, path in image_cases(folder)]


def phantom_sources(bundle: ModelBundle, count: int) -> list[LabelSource]:
    """One phantom per case, drawn in the labels the model takes (whole-body classes or MM-WHS structures) on a
    grid near the model's (whole-body phantoms at 1.5 mm in-plane; for cardiac models the heart phantom at 3 mm)."""
    wholebody = takes_whole_body(bundle.manifest.input.label_set, bundle.manifest.input.labels)

    def load(seed: int) -> Volume:
        if wholebody:
            from ..phantoms.wholebody import MODEL_GRID_SIZE, MODEL_GRID_SPACING, generate_wholebody_phantom

            return generate_wholebody_phantom(seed, MODEL_GRID_SIZE, MODEL_GRID_SPACING).labels
        from ..phantoms.thorax import generate_phantom

        return generate_phantom(seed, (128, 128, 48), (3.0, 3.0, 3.0)).labels

    values = (tuple(MODEL_VALUE_BASE + c for c in range(1, len(CLASSES))) if wholebody
              else tuple(MMWHS_LABELS.values()))
    seeds = range(PHANTOM_SEED_BASE, PHANTOM_SEED_BASE + count)
    return [LabelSource(f"phantom{seed}", lambda seed=seed: load(seed), f"phantom seed {seed}", values)
            for seed in seeds]


def label_names(values: list[int], bundle: ModelBundle, user_mapping: dict[str, int]) -> dict[int, str]:
    """A name for each label value: the user's (--labels), the whole-body class, MM-WHS or TotalSegmentator name
    when the values are in that numbering, else the model's, else ``label_<value>``."""
    names = {value: name for name, value in user_mapping.items()}
    model = {value: name for name, value in bundle.manifest.input.labels.items()}
    numbering = recognise_numbering(values)
    for value in values:
        if value in names:
            continue
        if numbering == "wholebody":
            names[value] = CLASSES[value - MODEL_VALUE_BASE]
        elif numbering == "totalsegmentator-total":
            names[value] = CLASS_MAPS["total"][value]
        elif numbering == "mmwhs":
            names[value] = next((n for n, v in MMWHS_LABELS.items() if v == value), f"label_{value}")
        else:
            names[value] = model.get(value, f"label_{value}")
    return names


def survey_labels(sources: list[LabelSource], settings: GenerationSettings,
                  bundle: ModelBundle) -> tuple[dict[str, int], dict[str, int]]:
    """The dataset's labels (name → consecutive value 1…K) over every source's values and a lesion to add, and
    each source value's consecutive value."""
    values: set[int] = set()
    for source in sources:
        if source.values:
            values.update(source.values)
            continue
        array = source.load().array
        if not np.issubdtype(array.dtype, np.integer):
            raise GANSynthesisError(f"Source {source.name} holds {array.dtype} values, so it is no label map; "
                                    "give label maps (segmentations exported as label maps).")
        values.update(int(v) for v in np.unique(array) if v != 0)
    if settings.variation.lesion_label is not None and settings.variation.lesion_host is not None:
        values.add(settings.variation.lesion_label)
    if not values:
        raise GANSynthesisError("Every source label map is empty (all voxels 0); there is nothing to synthesize from.")
    ordered = sorted(values)
    names = label_names(ordered, bundle, settings.label_mapping)
    table, seen = {}, set()
    for index, value in enumerate(ordered, start=1):
        name = names[value] if names[value] not in seen else f"{names[value]} ({value})"
        seen.add(name)
        table[name] = index
    return table, {str(v): i for i, v in enumerate(ordered, start=1)}


def renumbered(labels: np.ndarray, values: dict[str, int]) -> np.ndarray:
    """Label values → the dataset's consecutive values (0 for values not in the table)."""
    table = np.zeros(int(labels.max()) + 1 if labels.size else 1, np.uint16)
    for value, index in values.items():
        if int(value) < len(table):
            table[int(value)] = index
    out = table[np.clip(labels, 0, len(table) - 1)]
    return out.astype(np.uint8 if len(values) < 256 else np.uint16)


def _check_resumable(root: Path, record: dict) -> None:
    """Refuse a folder that holds a dataset made with other settings or another model."""
    path = root / GENERATION_JSON
    if not path.exists():
        if any(root.iterdir()):
            raise GANSynthesisError(f"Output folder {root} is not empty and holds no generated dataset; choose an "
                                    "empty or new folder.")
        return
    previous = read_json(path)
    for key in ("settings", "model", "model_version", "contrast_hu", "sources"):
        if previous.get(key) != record[key]:
            raise GANSynthesisError(
                f"{root} holds a dataset made with other {key.replace('_', ' ')} ({previous.get(key)!r}, now "
                f"{record[key]!r}); resume with the same settings, or give a new output folder.")


def generate_dataset(sources: list[LabelSource], output_dir: Path, bundle: ModelBundle,
                     settings: GenerationSettings, options: InferenceOptions | None = None,
                     synthesis_inputs: dict[str, Any] | None = None,
                     progress: Callable[[float, str], None] | None = None,
                     inputs: list[Path] = ()) -> list[str]:
    """Make ``settings.count`` cases in ``output_dir`` (skipping those already made); the names of the cases made."""
    if not sources:
        raise GANSynthesisError("No source label maps: give a folder of label maps or ask for phantoms.")
    if bundle.task != "synthesize":
        raise GANSynthesisError(f"Model {bundle.name} is a {bundle.task} model; generate needs a synthesize model "
                                "(`python -m GANSynthesisLib models --task synthesize`).")
    root = check_output_folder(output_dir, inputs)
    phantoms = all(s.name == f"phantom{PHANTOM_SEED_BASE + i}" for i, s in enumerate(sources))
    contrast = (synthesis_inputs or {}).get("contrast_hu", PHASES[DEFAULT_PHASE])
    record = {"settings": settings.to_dict(), "model": bundle.name, "model_version": str(bundle.manifest.version),
              "contrast_hu": contrast,
              "sources": f"phantoms, seed {PHANTOM_SEED_BASE} + case number" if phantoms else [s.name for s in sources]}
    record = json.loads(json_text(record))  # as it reads back (tuples as lists)
    _check_resumable(root, record)
    labels, values = survey_labels(sources, settings, bundle)
    description = (f"Synthetic CT made by GANSynthesis {bundle.name} {bundle.manifest.version} from varied label maps "
                   f"({len(sources)} sources, seed {settings.seed}); research use only")
    write_json(root / GENERATION_JSON, record | {"labels": labels, "label_values": values,
                                                 "description": description, "created": now()})
    for folder in ("imagesTr", "labelsTr", "cases"):
        (root / folder).mkdir(exist_ok=True)
    task = get_task("synthesize")
    options = options or InferenceOptions()
    progress = progress or (lambda fraction, message: None)
    made = []
    for index in range(settings.count):
        case = f"synthetic_{index:03d}"
        done = index / settings.count
        if manifest_path(root, case).exists():
            progress(done, f"{case} already made")
            continue
        source = sources[index % len(sources)]
        progress(done, f"{case}: varying {source.name}")
        rng = np.random.default_rng([settings.seed, index])
        varied, variation = vary_label_map(source.load(), settings.variation, rng)
        progress(done + 0.3 / settings.count, f"{case}: synthesizing")
        result = task.run(varied, bundle, (synthesis_inputs or {}) | {"contrast_hu": contrast}, options)
        metadata = synthetic_metadata(bundle, source.name, result.warnings, result.summary)
        label_note = {VARIED_FROM_KEY: f"{source.name} (seed {settings.seed}, case {index})"}
        manifest = {"case": case, "source": source.name, "reference": source.reference, "seed": settings.seed,
                    "index": index, "variation": variation.to_dict(), "model": bundle.name,
                    "model_version": str(bundle.manifest.version), "warnings": result.warnings, "synthetic": True,
                    "created": now()}
        paths = [image_path(root, case), label_path(root, case), manifest_path(root, case)]
        with OutputSet(paths) as outputs:
            write_image_file(result.volume, outputs.staged(paths[0]), metadata, file_description(metadata))
            write_image_file(varied.with_array(renumbered(varied.array, values)), outputs.staged(paths[1]),
                             label_note, f"GANSynthesis label map varied from {source.name}")
            outputs.staged(paths[2]).write_text(json_text(manifest))
        made.append(case)
        progress((index + 1) / settings.count, f"{case} written")
    write_dataset_json(root, labels, description)
    return made

"""Sample cases for trying every task without patient data: procedural phantoms, put straight into a scene.

Each sample is drawn from a fixed seed that no bundled model was trained, validated or calibrated on, on the grid
of the models it feeds (3 mm; 1.5 mm in-plane for the whole-body synthesis model), so Apply works on it at once.
Its nodes say they are phantoms (the ``GANSynthesis.Phantom`` attribute) and sit in one subject-hierarchy folder. Importing this module needs neither
scipy nor torch (Slicer registers the samples at start-up, before they may be installed).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from ..anatomy.mmwhs_structures import MMWHS_LABELS
from ..anatomy.wholebody_classes import CLASSES, MODEL_VALUE_BASE
from ..core.errors import GANSynthesisError
from ..core.volume import Volume
from ..models.bundle import ModelBundle
from ..models.provenance import PHANTOM_KEY
from ..tasks.catalogue import TASKS

SAMPLE_SIZE = (128, 128, 48)  # voxels (i, j, k): the thorax at the bundled models' grid
SAMPLE_SPACING = (3.0, 3.0, 3.0)
HEART_SEED = 424242  # the demo's phantom
LESION_SEED = 424245
LESION_SUPERSAMPLE = 3  # partial volume at tissue edges, as in real scans (the CT anomaly model is calibrated on it)
HEART_COLOURS = {  # MM-WHS structure → segment colour (RGB in [0, 1])
    "myocardium": (0.80, 0.55, 0.40), "left atrium": (0.85, 0.35, 0.35), "left ventricle": (0.90, 0.15, 0.15),
    "right atrium": (0.35, 0.45, 0.85), "right ventricle": (0.20, 0.30, 0.90), "ascending aorta": (0.95, 0.45, 0.20),
    "pulmonary artery": (0.30, 0.70, 0.90),
}

WHOLEBODY_COLOURS = {  # whole-body class → segment colour (RGB in [0, 1]); the heart as in the heart phantom
    "body": (0.90, 0.80, 0.70), "fat": (0.95, 0.85, 0.30), "soft tissue": (0.75, 0.45, 0.45),
    "lung": (0.55, 0.80, 0.95), "airway": (0.70, 0.95, 1.00), "bone": (0.95, 0.95, 0.85),
    "spinal canal": (0.60, 0.50, 0.90), "heart": (0.85, 0.35, 0.35), "myocardium": HEART_COLOURS["myocardium"],
    "cardiac blood pool": HEART_COLOURS["left ventricle"], "artery": HEART_COLOURS["ascending aorta"],
    "vein": (0.25, 0.40, 0.90), "solid organ": (0.60, 0.30, 0.20), "hollow organ": (0.85, 0.65, 0.55),
}


@dataclass(frozen=True)
class SampleCase:
    """The volumes of one sample (role → name, volume, display preset) and a label map with its segments
    (label value → name, colour)."""

    folder: str
    images: Mapping[str, tuple[str, Volume, str]]
    segmentation: tuple[str, Volume, Mapping[int, tuple[str, tuple[float, float, float]]]]
    seed: int


@dataclass(frozen=True)
class Sample:
    """A sample as offered in Slicer: its thumbnail (in the module's Resources/Icons), its node names by role (known
    before it is drawn) and how to draw it."""

    thumbnail: str
    node_names: Mapping[str, str]
    make: Callable[[], SampleCase]


HEART_NODE_NAMES = {"ct": "Heart phantom CT", "mr": "Heart phantom MR", "ct_low_dose": "Heart phantom low-dose CT",
                    "segmentation": "Heart phantom segmentation"}
WHOLEBODY_NODE_NAMES = {"ct": "Whole-body phantom CT", "segmentation": "Whole-body phantom segmentation"}
LESION_NODE_NAMES = {"ct": "Lesion phantom CT", "mr": "Lesion phantom MR",
                     "segmentation": "Lesion phantom true lesions"}


def heart_case() -> SampleCase:
    """A thorax phantom as CT, T1-like MR and low-dose CT with its seven MM-WHS heart structures as a segmentation."""
    from ..phantoms.modalities import low_dose_ct, render_mr
    from ..phantoms.thorax import generate_phantom

    phantom = generate_phantom(HEART_SEED, SAMPLE_SIZE, SAMPLE_SPACING)
    segments = {value: (name.capitalize(), HEART_COLOURS[name]) for name, value in MMWHS_LABELS.items()}
    return SampleCase(f"Heart phantom (seed {HEART_SEED})",
                      {"ct": (HEART_NODE_NAMES["ct"], phantom.ct, "ct"),
                       "mr": (HEART_NODE_NAMES["mr"], render_mr(phantom), "grey"),
                       "ct_low_dose": (HEART_NODE_NAMES["ct_low_dose"], low_dose_ct(phantom.ct, seed=HEART_SEED), "ct")},
                      (HEART_NODE_NAMES["segmentation"], phantom.labels, segments), HEART_SEED)


def wholebody_case() -> SampleCase:
    """The same thorax drawn for whole-body synthesis: its CT at 1.5 mm in-plane and its segmentation in the coarse
    classes a TotalSegmentator user has (body, fat, soft tissue, lung, airway, bone, spinal canal, the heart's
    myocardium and blood pool, arteries, the liver as a solid organ)."""
    import numpy as np

    from ..phantoms.wholebody import MODEL_GRID_SIZE, MODEL_GRID_SPACING, generate_wholebody_phantom

    phantom = generate_wholebody_phantom(HEART_SEED, MODEL_GRID_SIZE, MODEL_GRID_SPACING)
    present = set(np.unique(phantom.classes.array).tolist()) - {0}
    segments = {MODEL_VALUE_BASE + index: (CLASSES[index].capitalize(), WHOLEBODY_COLOURS[CLASSES[index]])
                for index in sorted(present)}
    return SampleCase(f"Whole-body phantom (seed {HEART_SEED})",
                      {"ct": (WHOLEBODY_NODE_NAMES["ct"], phantom.ct, "ct")},
                      (WHOLEBODY_NODE_NAMES["segmentation"], phantom.labels, segments), HEART_SEED)


def lesion_sample_case() -> SampleCase:
    """A thorax phantom with lesions and partial volume, as CT and T1-like MR, and the true lesions as a
    segmentation."""
    from ..phantoms.lesions import LesionKind, lesion_cases

    segments = {LesionKind.IN_RANGE: ("lesion, in range (truth)", (0.20, 0.85, 0.30)),
                LesionKind.OUT_OF_RANGE: ("lesion, out of range (truth)", (0.10, 0.60, 1.00))}
    cases = lesion_cases(LESION_SEED, ("ct", "mr"), SAMPLE_SIZE, SAMPLE_SPACING, supersample=LESION_SUPERSAMPLE)
    ct, mr = cases["ct"], cases["mr"]
    return SampleCase(f"Lesion phantom (seed {LESION_SEED})",
                      {"ct": (LESION_NODE_NAMES["ct"], ct.image, "ct"), "mr": (LESION_NODE_NAMES["mr"], mr.image, "grey")},
                      (LESION_NODE_NAMES["segmentation"], ct.mask, segments), LESION_SEED)


SAMPLES: dict[str, Sample] = {
    "GAN heart phantom": Sample("GANSynthesisHeartPhantom.png", HEART_NODE_NAMES, heart_case),  # synthesis, translation
    "GAN whole-body phantom": Sample("GANSynthesisWholeBodyPhantom.png", WHOLEBODY_NODE_NAMES,
                                     wholebody_case),  # whole-body synthesis
    "GAN lesion phantom": Sample("GANSynthesisLesionPhantom.png", LESION_NODE_NAMES, lesion_sample_case),  # anomaly
}


@functools.lru_cache(maxsize=None)
def _drawn_once(name: str) -> SampleCase:
    return SAMPLES[name].make()


def drawn_sample(name: str) -> SampleCase:
    """The sample ``name``, drawn once per process (its seeds are fixed, and the lesion phantom takes seconds) and
    handed out as copies, so nothing done to one load reaches the next."""
    if name not in SAMPLES:
        raise GANSynthesisError(f"There is no sample {name!r}; choose one of {', '.join(SAMPLES)}.")
    case = _drawn_once(name)
    copied = lambda volume: volume.with_array(volume.array.copy())
    label_name, labels, segments = case.segmentation
    return replace(case, images={role: (node_name, copied(volume), display)
                                 for role, (node_name, volume, display) in case.images.items()},
                   segmentation=(label_name, copied(labels), segments))


def load_sample(scene, name: str) -> dict[str, Any]:
    """Draw the sample ``name`` into ``scene``; returns its nodes by role ('ct', 'mr', 'segmentation'). Adds all of
    them or, on failure, none."""
    from .mrml import add_segmentation, add_volume, put_in_folder, undone_on_error

    case = drawn_sample(name)
    attributes = {PHANTOM_KEY: f"seed {case.seed}"}
    with undone_on_error(scene):
        nodes = {role: add_volume(scene, volume, node_name, attributes, display)
                 for role, (node_name, volume, display) in case.images.items()}
        node_name, labels, segments = case.segmentation
        nodes["segmentation"] = add_segmentation(scene, labels, segments, node_name, attributes)
        nodes["segmentation"].SetReferenceImageGeometryParameterFromVolumeNode(nodes["ct"])
        put_in_folder(scene, nodes.values(), case.folder)
    return nodes


def sample_input_for(bundle: ModelBundle) -> tuple[str, str] | None:
    """(sample name, node role) of the sample whose node fits the model's input, or None when none does."""
    task = TASKS.get(bundle.task)
    return task.sample_input(bundle.manifest) if task else None


def load_sample_input(scene, bundle: ModelBundle) -> tuple[Any, dict[str, Any]]:
    """Draw the sample that fits the model's input into ``scene``; returns (the input node, all its nodes by role)."""
    fit = sample_input_for(bundle)
    if fit is None:
        raise GANSynthesisError(f"No sample fits the input of model {bundle.name} "
                                f"({bundle.manifest.input.modality or bundle.manifest.input.kind}); "
                                "load a volume of your own.")
    name, role = fit
    nodes = load_sample(scene, name)
    return nodes[role], nodes

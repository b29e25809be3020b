"""The whole-body label set: the classes a whole-body synthesis model takes, and how the names and numbers users
have (TotalSegmentator v2 ``total`` and ``heartchambers_highres``, MM-WHS, synonyms, coarse names) map onto them.

A whole-body model sees one *class* per voxel (fine classes grouped: every ``rib_*``, ``vertebrae_*``, ``sternum``
… is ``bone``; every lobe is ``lung``; the seven MM-WHS structures refine ``heart`` into myocardium, blood pool and
great vessels). Its manifest lists the class names (``input.labels``, values :data:`MODEL_VALUE_BASE` + class) and
``input.label_set: "wholebody-v1"``.

Plain label maps are recognised by their values (:func:`recognise_numbering`): the model's own values, MM-WHS
values (205 … 850) or TotalSegmentator ``total`` numbering (1 … 117). :func:`invented_regions` says what the
segmentation does not cover, so the run can warn which regions the model had to draw itself.

The 2.5-D encoding (:func:`pack_codes`) packs each voxel's class, the classes of its two axial neighbours and the
volume's "given" flags into one integer, so the slice engine runs a 2.5-D model unchanged.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

import numpy as np

from .mmwhs_structures import MMWHS_LABELS, normalise_name
from .totalsegmentator_classes import CLASS_MAPS

LABEL_SET = "wholebody-v1"
MODEL_VALUE_BASE = 1000  # class c is value 1000 + c in a label map in the model's own values

# Class 0 is "nothing given here" (outside the body, or not segmented). Order = channel order.
CLASSES: tuple[str, ...] = (
    "background", "body", "fat", "soft tissue", "lung", "airway", "bone", "spinal canal", "heart", "myocardium",
    "cardiac blood pool", "artery", "vein", "solid organ", "hollow organ",
)
CLASS_INDEX = {name: index for index, name in enumerate(CLASSES)}
NUM_CLASSES = len(CLASSES)  # 15, incl. background; fits 4 bits
FLAG_CLASSES = CLASSES[1:]  # one "given in this volume" flag per class
CLASS_BITS = 4

# When several structures cover a voxel, the class that comes later here wins (fine over coarse).
PRIORITY: tuple[str, ...] = ("body", "soft tissue", "fat", "lung", "hollow organ", "solid organ", "vein", "heart",
                             "myocardium", "cardiac blood pool", "artery", "airway", "spinal canal", "bone")

# Regions whose absence the run reports ("the model had to invent …"), with how to say it.
REPORTED_REGIONS: dict[str, str] = {
    "body": "no body outline given: the model drew the body outline itself",
    "lung": "no lung given: the model drew the lungs itself",
    "bone": "no bone given: the model drew the skeleton itself",
    "fat": "no fat given: the model drew fat and muscle layers itself",
    "heart": "no heart given",
}

# Coarse names and synonyms a user may have (normalised with labels.normalise_name).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "body": ("body outline", "body contour", "outline", "skin", "external", "body trunc", "body_trunc",
             "body extremities", "body_extremities", "patient", "whole body", "body mask", "torso", "trunk"),
    "fat": ("adipose", "adipose tissue", "subcutaneous fat", "subcutaneous_fat", "torso fat", "torso_fat",
            "intermuscular fat", "intermuscular_fat", "visceral fat", "epicardial fat", "pericardial fat"),
    "soft tissue": ("soft tissues", "soft_tissue", "muscle", "muscles", "skeletal muscle", "skeletal_muscle", "tissue",
                    "mediastinum", "other soft tissue"),
    "lung": ("lungs", "left lung", "right lung", "lung left", "lung right", "lung_left", "lung_right", "lung parenchyma",
             "pulmonary parenchyma"),
    "airway": ("airways", "trachea", "bronchus", "bronchi", "lung airways", "lung_airways", "main bronchus"),
    "bone": ("bones", "skeleton", "ribs", "rib", "spine", "vertebra", "vertebrae", "vertebral column", "osseous",
             "bony structures"),
    "spinal canal": ("spinal cord", "spinal_cord", "cord", "canal", "spinal canal contents", "thecal sac"),
    "heart": ("cardiac", "whole heart", "heart total", "pericardium"),
    "myocardium": ("myo", "lv myocardium", "myocardium of left ventricle", "left ventricular myocardium",
                   "left ventricle myocardium", "myocardium lv", "heart myocardium", "heart_myocardium", "lvm"),
    "cardiac blood pool": ("blood pool", "cardiac chambers", "heart chambers", "chambers", "left atrium",
                           "left ventricle", "right atrium", "right ventricle", "la", "lv", "ra", "rv",
                           "heart atrium left", "heart atrium right", "heart ventricle left", "heart ventricle right",
                           "atrial appendage left", "left atrial appendage", "left atrial cavity",
                           "right atrial cavity", "left ventricular cavity", "right ventricular cavity"),
    "artery": ("arteries", "vessels", "vessel", "contrast", "contrast vessels", "contrast filled vessels",
               "great vessels", "blood vessels", "aorta", "ascending aorta", "descending aorta", "aortic arch", "ao",
               "pulmonary artery", "pulmonary trunk", "main pulmonary artery", "pa", "pulmonary vein",
               "pulmonary veins", "lung arteries", "lung veins", "coronary arteries"),
    "vein": ("veins", "vena cava", "superior vena cava", "inferior vena cava", "svc", "ivc", "portal vein"),
    "solid organ": ("solid organs", "organ", "organs", "liver", "spleen", "kidney", "kidneys", "pancreas", "thyroid",
                    "adrenal gland", "prostate", "brain"),
    "hollow organ": ("hollow organs", "bowel", "stomach", "colon", "small bowel", "duodenum", "esophagus",
                     "oesophagus", "urinary bladder", "bladder", "gallbladder", "intestine"),
}

# Name patterns (normalised, searched anywhere, first match wins) → class: TotalSegmentator names not listed one by
# one and the terminology names SlicerTotalSegmentator can give segments ("Third rib", "T12 vertebra", "Upper lobe
# of lung", "Brachiocephalic artery", "Deep muscle of back", "Subcutaneous fatty tissue", …).
_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\b(fat|fatty|adipose)\b", "fat"),
    (r"\b(trachea|bronchus|bronchi|bronchia|airway|airways)\b", "airway"),
    (r"\blobes?\b", "lung"),
    (r"\bmyocardium\b", "myocardium"),
    (r"\b(atrium|atrial|ventricle|ventricular)\b", "cardiac blood pool"),
    (r"\b(artery|arteries|arterial|trunk|aorta|aortic)\b", "artery"),
    (r"\b(vein|veins|vena|venae|venous)\b", "vein"),
    (r"\b(ribs?|vertebrae?|vertebral|sternum|sacrum|coccyx|skull|humerus|scapulae?|clavicula|clavicle|femur|hip|"
     r"pelvis|mandible|patella|tibia|fibula|radius|ulna|carpal|carpus|tarsal|metacarpal|metatarsal|phalanx|phalanges|"
     r"bones?|costal cartilages?|cartilage)\b", "bone"),
    (r"\bspinal (cord|canal)\b", "spinal canal"),
    (r"\b(muscles?|gluteus|autochthon|iliopsoas|psoas)\b", "soft tissue"),
    (r"\b(kidney|kidneys|renal|adrenal|liver|hepatic|spleen|splenic|pancreas|thyroid|prostate|brain)\b",
     "solid organ"),
    (r"\b(bowel|intestine|colon|duodenum|stomach|esophagus|oesophagus|bladder|gallbladder|rectum)\b", "hollow organ"),
    (r"\bheart\b", "heart"),
    (r"\blungs?\b", "lung"),
)

# TotalSegmentator names whose class the patterns would get wrong or miss.
_EXCEPTIONS: dict[str, str] = {
    "kidney cyst left": "solid organ", "kidney cyst right": "solid organ",
    "pulmonary vein": "artery",  # left-heart blood: contrast-filled in an arterial phase
    "atrial appendage left": "cardiac blood pool",
    "portal vein and splenic vein": "vein",
    "lung airways wall": "soft tissue",
    "heart myocardium": "myocardium",
}


def wholebody_labels() -> dict[str, int]:
    """The model's label names → values (manifest ``input.labels``), background excluded, in channel order."""
    return {name: MODEL_VALUE_BASE + index for index, name in enumerate(CLASSES) if index}


def is_wholebody(model_labels: Mapping[str, int] | Iterable[str]) -> bool:
    """Whether a model's label names are this label set's classes (all of them, or some: a cardiac model takes the
    heart's)."""
    names = set(model_labels)
    return bool(names) and names <= set(CLASSES[1:])


def takes_whole_body(label_set: str | None, model_labels: Iterable[str] | None) -> bool:
    """Whether a model takes a whole-body segmentation (this label set with a body class), rather than the heart
    alone (a cardiac model in this label set, or a model of MM-WHS values)."""
    return label_set == LABEL_SET and "body" in (model_labels or ())


def class_of_name(name: str) -> str | None:
    """The class a structure name means (TotalSegmentator, MM-WHS, synonyms, coarse names), or None."""
    key = normalise_name(name)
    if not key:
        return None
    for cls in CLASSES[1:]:
        if key == normalise_name(cls) or key in (normalise_name(s) for s in SYNONYMS[cls]):
            return cls
    if key in _EXCEPTIONS:
        return _EXCEPTIONS[key]
    for pattern, cls in _PATTERNS:
        if re.search(pattern, key):
            return cls
    return None


def canonical_class_name(name: str, model_labels: Iterable[str]) -> str | None:
    """The model label a name means when the model takes this label set (None otherwise or when unknown)."""
    labels = list(model_labels)
    if not is_wholebody(labels):
        return None
    cls = class_of_name(name)
    return cls if cls in labels else None


# --- numbered label maps --------------------------------------------------------------------------------------

def _table(numbering: Mapping[int, str]) -> dict[int, int]:
    """value → class index for a numbering (value → structure name); unknown names are left out."""
    table = {}
    for value, name in numbering.items():
        cls = class_of_name(name)
        if cls is not None:
            table[int(value)] = CLASS_INDEX[cls]
    return table


TOTALSEGMENTATOR_TOTAL = _table(CLASS_MAPS["total"])
MMWHS_TABLE = _table({value: name for name, value in MMWHS_LABELS.items()})
MODEL_TABLE = {MODEL_VALUE_BASE + index: index for index in range(1, NUM_CLASSES)}
NUMBERINGS: dict[str, dict[int, int]] = {"wholebody": MODEL_TABLE, "mmwhs": MMWHS_TABLE,
                                         "totalsegmentator-total": TOTALSEGMENTATOR_TOTAL}


def recognise_numbering(present: Iterable[int]) -> str | None:
    """Which numbering a plain label map's non-zero values are in: 'wholebody' (the model's own values), 'mmwhs'
    (205 … 850) or 'totalsegmentator-total' (1 … 117); None when they fit none."""
    values = {int(v) for v in present if int(v) != 0}
    if not values:
        return None
    for name in ("wholebody", "mmwhs"):
        if values <= set(NUMBERINGS[name]):
            return name
    if values <= set(CLASS_MAPS["total"]):
        return "totalsegmentator-total"
    return None


def class_lookup(numbering: Mapping[int, int], size: int) -> np.ndarray:
    """uint8 lookup table value → class (0 for values not in the numbering)."""
    table = np.zeros(size, np.uint8)
    for value, cls in numbering.items():
        if 0 <= value < size:
            table[value] = cls
    return table


def to_classes(labels: np.ndarray, numbering: Mapping[int, int]) -> np.ndarray:
    """A label map in a numbering → uint8 class map."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return labels.astype(np.uint8)
    high = int(labels.max())
    low = int(labels.min())
    table = class_lookup(numbering, max(high + 1, 1))
    if low < 0:
        labels = np.where(labels < 0, 0, labels)
    return table[labels.astype(np.int64)]


def classes_from_masks(masks: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Class map from named binary masks (any names :func:`class_of_name` knows); overlaps resolved by
    :data:`PRIORITY`. Unknown names raise ValueError."""
    classes = np.zeros(shape, np.uint8)
    named = []
    for name, mask in masks.items():
        cls = class_of_name(name)
        if cls is None:
            raise ValueError(f"{name!r} is not a structure the whole-body label set knows")
        named.append((PRIORITY.index(cls), cls, mask))
    for _, cls, mask in sorted(named, key=lambda item: item[0]):
        classes[np.asarray(mask, bool)] = CLASS_INDEX[cls]
    return classes


# --- what the model had to invent -----------------------------------------------------------------------------

COVERS: dict[str, tuple[str, ...]] = {  # reported region → the classes that count as giving it
    "body": ("body", "fat"),  # fat is subcutaneous fat too (TotalSegmentator's tissue_types): its edge is the skin
    "lung": ("lung",), "bone": ("bone",), "fat": ("fat",),
    "heart": ("heart", "myocardium", "cardiac blood pool"),
}


def given_classes(classes: np.ndarray) -> set[str]:
    """Names of the classes present in a class map."""
    counts = np.bincount(np.asarray(classes, np.uint8).ravel(), minlength=NUM_CLASSES)
    return {CLASSES[index] for index in range(1, NUM_CLASSES) if counts[index]}


def invented_regions(given: Iterable[str]) -> list[str]:
    """Warnings for the reported regions (body, lung, bone, fat, heart) that the segmentation does not give."""
    given = set(given)
    return [text for region, text in REPORTED_REGIONS.items() if not given.intersection(COVERS[region])]


# --- 2.5-D packing ----------------------------------------------------------------------------------------------

def flags_of(given: Iterable[str]) -> int:
    """Bit mask of the given classes (bit c-1 for class c)."""
    bits = 0
    for name in given:
        bits |= 1 << (CLASS_INDEX[name] - 1)
    return bits


def pack_codes(axial_classes: np.ndarray, flags: int, context: int = 1) -> np.ndarray:
    """(k, j, i) class map in axial order → int32 codes: bits 0-3 slice k+1, 4-7 slice k, 8-11 slice k-1 (edges
    repeated), then the given flags from bit 12. ``context`` is the number of neighbours on each side (1)."""
    if context != 1:
        raise ValueError("only one neighbour on each side is packed")
    c = np.asarray(axial_classes, np.int32)
    below = np.concatenate([c[:1], c[:-1]], 0)
    above = np.concatenate([c[1:], c[-1:]], 0)
    return (np.int32(flags) << 12) | (below << 8) | (c << 4) | above


def centre_classes(codes: np.ndarray) -> np.ndarray:
    """Packed codes → the class of each voxel's own slice (uint8)."""
    return ((np.asarray(codes) >> 4) & 0xF).astype(np.uint8)


def unpack_codes(codes):
    """torch int codes (B, H, W) → float (B, 3·15 + 14, H, W): one-hot of slice k-1, k, k+1, then the flags."""
    import torch

    codes = codes.to(torch.int32)
    b, h, w = codes.shape
    x = torch.zeros((b, INPUT_CHANNELS, h, w), device=codes.device)
    for slot, shift in enumerate((8, 4, 0)):
        index = (((codes >> shift) & 0xF) + slot * NUM_CLASSES).long()
        x.scatter_(1, index[:, None], 1.0)
    # flags are the same wherever a volume's codes are; pixels padded outside the field of view carry none
    packed_flags = codes >> 12
    inside = packed_flags != 0
    bits = torch.arange(len(FLAG_CLASSES), device=codes.device, dtype=torch.int32)
    flags = (packed_flags.amax(dim=(1, 2))[:, None] >> bits) & 1
    x[:, 3 * NUM_CLASSES:] = flags.float()[:, :, None, None] * inside[:, None].float()
    return x


INPUT_CHANNELS = 3 * NUM_CLASSES + len(FLAG_CLASSES)


def pad_channels():
    """Network input outside the field of view: background in all three slices, no flags."""
    import torch

    values = torch.zeros(INPUT_CHANNELS)
    for slot in range(3):
        values[slot * NUM_CLASSES] = 1.0
    return values

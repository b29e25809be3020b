"""Label definitions (MM-WHS cardiac structures) and matching of user label names to model labels."""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from .errors import GANSynthesisError

MMWHS_LABELS: dict[str, int] = {
    "myocardium": 205,
    "left atrium": 420,
    "left ventricle": 500,
    "right atrium": 550,
    "right ventricle": 600,
    "ascending aorta": 820,
    "pulmonary artery": 850,
}

# Common ways people name the MM-WHS structures (segment names, TotalSegmentator, abbreviations).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "myocardium": ("myo", "lv myocardium", "myocardium of left ventricle", "left ventricular myocardium",
                   "left ventricle myocardium", "myocardium lv", "heart myocardium", "lvm"),
    "left atrium": ("la", "heart atrium left", "atrium left", "left atrial cavity", "left atrial blood cavity"),
    "left ventricle": ("lv", "heart ventricle left", "ventricle left", "left ventricular cavity",
                       "left ventricle blood cavity", "lv blood pool", "lv cavity"),
    "right atrium": ("ra", "heart atrium right", "atrium right", "right atrial cavity", "right atrial blood cavity"),
    "right ventricle": ("rv", "heart ventricle right", "ventricle right", "right ventricular cavity",
                        "right ventricle blood cavity", "rv cavity"),
    "ascending aorta": ("aorta", "ao", "aa", "asc aorta", "aorta ascending"),
    "pulmonary artery": ("pa", "pulmonary trunk", "main pulmonary artery", "pulmonary artery trunk", "mpa",
                         "pulmonary_artery"),
}


def normalise_name(name: str) -> str:
    """Lower case, separators turned into single spaces: 'Left_Ventricle' → 'left ventricle'."""
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", name.strip())
    return re.sub(r"[\s_\-.,/()]+", " ", name.lower()).strip()


def canonical_label_name(name: str, model_labels: Iterable[str]) -> str | None:
    """The model label that a user's name means, or None when it matches none."""
    wanted = normalise_name(name)
    by_normalised = {normalise_name(label): label for label in model_labels}
    if wanted in by_normalised:
        return by_normalised[wanted]
    for label_key, label in by_normalised.items():
        if wanted in (normalise_name(s) for s in SYNONYMS.get(label_key, ())):
            return label
    from .label_sets import canonical_class_name  # whole-body models: TotalSegmentator names, grouping

    return canonical_class_name(name, by_normalised.values())


def parse_label_mapping(text: str) -> dict[str, int]:
    """Parse 'left ventricle=500, myocardium=205' into {'left ventricle': 500, 'myocardium': 205}; refused when
    empty, when a name appears twice or when two names share one value."""
    mapping: dict[str, int] = {}
    names: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip():
            raise GANSynthesisError(f"Label mapping entry {item!r} is not of the form 'name=value'.")
        try:
            number = int(value)
        except ValueError as error:
            raise GANSynthesisError(f"Label mapping entry {item!r}: {value!r} is not an integer label value.") from error
        key = normalise_name(name)
        if key in names:
            raise GANSynthesisError(f"Label mapping names {names[key]!r} twice; give each structure once.")
        if number in mapping.values():
            other = next(n for n, v in mapping.items() if v == number)
            raise GANSynthesisError(f"Label mapping gives value {number} to both {other!r} and {name.strip()!r}; "
                                    "each value in your file is one structure.")
        names[key] = name.strip()
        mapping[name.strip()] = number
    if not mapping:
        raise GANSynthesisError(f"Label mapping {text!r} has no entries; write e.g. 'left ventricle=1,myocardium=2'.")
    return mapping


def resolve_label_mapping(user_mapping: Mapping[str, int], model_labels: Mapping[str, int]) -> dict[int, int]:
    """Input label value → model label value, from a user's 'name → value in my file' mapping. Two names for one
    structure are refused, except for a whole-body model, whose classes group many structures (every rib is bone)."""
    from .label_sets import wholebody_labels

    grouping = set(model_labels) <= set(wholebody_labels())
    resolved: dict[int, int] = {}
    meant: dict[str, str] = {}
    for name, input_value in user_mapping.items():
        label = canonical_label_name(name, model_labels)
        if label is None:
            raise GANSynthesisError(
                f"Label {name!r} matches none of the model's labels ({', '.join(model_labels)})."
            )
        if label in meant and not grouping:
            raise GANSynthesisError(f"Labels {meant[label]!r} and {name!r} both mean the model's {label!r}; "
                                    "give each structure once.")
        meant[label] = name
        resolved[input_value] = model_labels[label]
    return resolved

"""Matching a user's label names and values to a model's labels (``--labels``, segment names)."""

from __future__ import annotations

from typing import Iterable, Mapping

from ..core.errors import GANSynthesisError
from .mmwhs_structures import MMWHS_LABELS, SYNONYMS, normalise_name
from .wholebody_classes import canonical_class_name, wholebody_labels


def canonical_label_name(name: str, model_labels: Iterable[str]) -> str | None:
    """The model label that a user's name means, or None when it matches none."""
    wanted = normalise_name(name)
    by_normalised = {normalise_name(label): label for label in model_labels}
    if wanted in by_normalised:
        return by_normalised[wanted]
    for label_key, label in by_normalised.items():
        if wanted in (normalise_name(s) for s in SYNONYMS.get(label_key, ())):
            return label
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
    structure are refused ('lv' and 'left ventricle'); a whole-body model's classes group many structures (every rib
    is bone), so there two structures of one class are not."""
    grouping = set(model_labels) <= set(wholebody_labels())
    resolved: dict[int, int] = {}
    meant: dict[str, str] = {}
    for name, input_value in user_mapping.items():
        label = canonical_label_name(name, model_labels)
        if label is None:
            raise GANSynthesisError(
                f"Label {name!r} matches none of the model's labels ({', '.join(model_labels)})."
            )
        structure = (canonical_label_name(name, MMWHS_LABELS) or normalise_name(name)) if grouping else label
        if structure in meant:
            raise GANSynthesisError(f"Labels {meant[structure]!r} and {name!r} both mean {structure!r}; "
                                    "give each structure once.")
        meant[structure] = name
        resolved[input_value] = model_labels[label]
    return resolved

"""The seven MM-WHS cardiac structures: their label values and the other names people give them, and the one
way names are compared (case and separators ignored)."""

from __future__ import annotations

import re

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

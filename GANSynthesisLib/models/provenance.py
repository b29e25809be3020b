"""How synthetic outputs and phantoms say what they are: header keys, node attributes and a short description."""

from __future__ import annotations

import datetime
from typing import Mapping

from .bundle import ModelBundle

PREFIX = "GANSynthesis."
SYNTHETIC_KEY = PREFIX + "Synthetic"
WARNINGS_KEY = PREFIX + "Warnings"
PHANTOM_KEY = PREFIX + "Phantom"  # on procedural phantoms: which seed drew them
VARIED_FROM_KEY = PREFIX + "VariedFrom"  # on label maps a generated dataset varied: from which source


def output_modality(bundle: ModelBundle) -> str:
    """What the model produces, e.g. 'CT' or 'anomaly map'."""
    return (bundle.manifest.output.modality or "image")


def synthetic_metadata(bundle: ModelBundle, source: str = "", warnings: list[str] | tuple = (),
                       summary: Mapping[str, float] | None = None) -> dict[str, str]:
    """Key/value provenance stored in file headers and as MRML node attributes (with any warnings, and the run's
    summary numbers, e.g. the contrast level or the anomaly score)."""
    numbers = {PREFIX + key: f"{value:.6g}" for key, value in (summary or {}).items()}
    return ({WARNINGS_KEY: " | ".join(warnings)} if warnings else {}) | numbers | {
        SYNTHETIC_KEY: "true",
        PREFIX + "Task": bundle.task,
        PREFIX + "Model": bundle.name,
        PREFIX + "ModelVersion": str(bundle.manifest.version),
        PREFIX + "OutputModality": output_modality(bundle),
        PREFIX + "IntendedUse": bundle.manifest.intended_use,
        PREFIX + "Source": source,
        PREFIX + "Created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def file_description(metadata: Mapping[str, str]) -> str | None:
    """One line (NIfTI 'descrip', at most 79 characters) saying what the image is, from its provenance keys:
    synthetic (which model) or a procedural phantom; None for other images."""
    if metadata.get(SYNTHETIC_KEY) == "true":
        return (f"SYNTHETIC {metadata.get(PREFIX + 'OutputModality', 'image')} GANSynthesis "
                f"{metadata.get(PREFIX + 'Model', '')} {metadata.get(PREFIX + 'ModelVersion', '')}").strip()[:79]
    if PHANTOM_KEY in metadata:
        return f"GANSynthesis phantom {metadata[PHANTOM_KEY]} (procedural, not a patient)"[:79]
    return None

"""Contrast phases of a synthetic CT: the blood HU each phase means, and reading a user's choice (a phase name or a
number of HU). No numpy here: the Slicer panel lists the phases before anything is installed."""

from __future__ import annotations

from ...core.errors import GANSynthesisError

PHASES: dict[str, float] = {"arterial": 350.0, "venous": 160.0, "none": 40.0}  # mean blood HU of each phase
PHASE_TEXT = {"arterial": "arterial phase, a CT angiogram", "venous": "portal-venous phase",
              "none": "no contrast", "model": "as the model draws it"}
MODEL_PHASE = "model"  # the network's own blood HU, unchanged
DEFAULT_PHASE = "arterial"
LEVEL_RANGE = (-100.0, 1500.0)
CONTRAST_CLASSES = ("cardiac blood pool", "artery")  # the whole-body classes that hold contrast-filled blood
LEVEL_KEY = "contrast_hu"  # summary key (node attribute, header key GANSynthesis.contrast_hu) of the level set


def drawn_key(name: str) -> str:
    """Summary key of the mean HU the network drew in a contrast class, e.g. ``model_artery_hu``."""
    return f"model_{name.replace(' ', '_')}_hu"


def parse_contrast(text: str | float) -> float | None:
    """A phase name (``arterial``, ``venous``, ``none``, ``model``) or a number of HU → the blood HU to set (None:
    the model's own); a clear error for anything else."""
    key = str(text).strip().lower()
    if key == MODEL_PHASE:
        return None
    if key in PHASES:
        return PHASES[key]
    try:
        level = float(key)
    except ValueError:
        raise GANSynthesisError(f"Contrast {text!r} is neither a phase ({', '.join([*PHASES, MODEL_PHASE])}) nor a "
                                "number of HU; e.g. --contrast arterial or --contrast 300.") from None
    low, high = LEVEL_RANGE
    if not low <= level <= high:
        raise GANSynthesisError(f"Contrast level {level:g} HU is outside {low:g}…{high:g} HU; blood is about 40 HU "
                                "without contrast and 250–450 HU in a CT angiogram.")
    return level


def describe_level(level: float | None) -> str:
    """The level in words, naming its phase when it is one."""
    if level is None:
        return PHASE_TEXT[MODEL_PHASE]
    phase = next((name for name, value in PHASES.items() if value == level), None)
    return f"{level:g} HU" + (f" ({PHASE_TEXT[phase]})" if phase else "")

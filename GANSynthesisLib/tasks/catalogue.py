"""The tasks GANSynthesis offers, in menu order: the command line, batch, the scripting API, the model cards and
the Slicer module are built from this catalogue. Adding a task is one module with its :class:`.spec.TaskSpec` and
one line here (or :func:`register_task` from a plug-in)."""

from __future__ import annotations

from ..core.errors import GANSynthesisError
from .anomaly.task import ANOMALY
from .spec import TaskSpec
from .synthesis.task import SYNTHESIZE
from .translation.task import TRANSLATE

TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    """Make a task available everywhere (command line, batch, scripting API, model cards, Slicer module)."""
    TASKS[spec.name] = spec
    return spec


def get_task(name: str) -> TaskSpec:
    """A registered task by name, or a clear error listing the known ones."""
    if name not in TASKS:
        raise GANSynthesisError(f"Unknown task {name!r}; available: {', '.join(TASKS)}.")
    return TASKS[name]


for _spec in (SYNTHESIZE, TRANSLATE, ANOMALY):
    register_task(_spec)

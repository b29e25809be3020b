"""The tasks GANSynthesis can run; the command line, the MRML API and the Slicer module read this registry.

Adding a task means writing its ``run`` function and registering a :class:`TaskSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..core.errors import GANSynthesisError
from ..core.volume import Volume
from ..models.bundle import ModelBundle

if TYPE_CHECKING:  # torch loads only when a task runs: the Slicer panel lists tasks before torch is installed
    from ..engine.inference import InferenceOptions


@dataclass
class TaskResult:
    """A task's output volume and the warnings the user should see (e.g. input unlike the training data);
    anomaly detection adds its thresholded segmentation, per-slice score rows and summary numbers."""

    volume: Volume
    warnings: list[str] = field(default_factory=list)
    segmentation: Volume | None = None
    slice_table: list[dict[str, float]] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)


TaskRunner = Callable[[Volume, ModelBundle, dict[str, Any], "InferenceOptions"], TaskResult]


@dataclass(frozen=True)
class TaskSpec:
    """One task: what it takes (``input_kind``: 'labelmap' or 'scalar'), how it runs, how to show its output."""

    name: str
    title: str
    input_kind: str
    output_display: str  # 'ct' (grey CT window) or 'heat' (colour overlay)
    run: TaskRunner


TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    """Make a task available everywhere (command line, scripting API, Slicer module)."""
    TASKS[spec.name] = spec
    return spec


def get_task(name: str) -> TaskSpec:
    """A registered task by name, or a clear error listing the known ones."""
    if name not in TASKS:
        raise GANSynthesisError(f"Unknown task {name!r}; available: {', '.join(TASKS)}.")
    return TASKS[name]


def _run_synthesize(volume: Volume, bundle: ModelBundle, inputs: dict[str, Any], options: InferenceOptions) -> TaskResult:
    from .synthesis.label_values import present_values
    from .synthesis.labels_to_ct import synthesize
    from .synthesis.wholebody import MMWHS_MODEL_WARNING, is_wholebody_bundle, synthesize_wholebody

    mapping = inputs.get("label_mapping")
    if is_wholebody_bundle(bundle):  # whole-body label set (2.5-D): its own label handling and warnings
        return TaskResult(*synthesize_wholebody(volume, bundle, mapping, options))
    synthetic = synthesize(volume, bundle, mapping, options)  # refuses a volume that is no label map
    absent = sorted(set(mapping) - set(present_values(volume.array))) if mapping else []
    warnings = [f"no voxel has the mapped label value(s) {', '.join(map(str, absent))}; check --labels"] if absent else []
    return TaskResult(synthetic, [*warnings, MMWHS_MODEL_WARNING])


def _run_translate(volume: Volume, bundle: ModelBundle, inputs: dict[str, Any], options: InferenceOptions) -> TaskResult:
    from .translation import translate

    return TaskResult(*translate(volume, bundle, options))


def _run_anomaly(volume: Volume, bundle: ModelBundle, inputs: dict[str, Any], options: InferenceOptions) -> TaskResult:
    from .anomaly.detection import detect_anomalies
    from .anomaly.thresholds import threshold_summary

    found = detect_anomalies(volume, bundle, options, inputs.get("threshold"), inputs.get("normal_share"))
    suspected_ml = float(found.segmentation.array.sum()) * float(np.prod(volume.spacing)) / 1000.0
    summary = {"volume_score": found.volume_score, "suspected_ml": suspected_ml}
    return TaskResult(found.heatmap, found.warnings, found.segmentation, found.slice_table(),
                      summary | threshold_summary(bundle.manifest, found.threshold))


register_task(TaskSpec("synthesize", "Synthesize CT from a segmentation", "labelmap", "ct", _run_synthesize))
register_task(TaskSpec("translate", "Translate a volume to another modality", "scalar", "ct", _run_translate))
register_task(TaskSpec("anomaly", "Anomaly heatmap (what a GAN of normal anatomy cannot explain)", "scalar", "heat",
                       _run_anomaly))

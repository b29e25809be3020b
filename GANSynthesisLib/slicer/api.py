"""Scripting API on MRML nodes, for Slicer's Python console and batch scripts.

    from GANSynthesisLib.slicer import api
    ct_node = api.synthesize_ct(segmentation_node, reference_volume_node=ct_or_mr_node)
    heat_node = api.detect_anomalies(ct_node_or_mr_node)       # + api.related_node(heat_node, "table")

Each run has three steps so a GUI can keep the compute off the main thread:
:func:`prepare` (main thread; reads nodes, changes nothing), :func:`compute` (any thread; pure
torch/numpy) and :func:`publish` (main thread; adds the output node). Cancel or failure, before or during
:func:`publish`, leaves the scene's nodes as they were.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..core.errors import GANSynthesisError
from ..core.volume import Volume
from ..engine.inference import InferenceOptions
from ..files.image_files import write_volume
from ..models.bundle import ModelBundle
from ..models.provenance import PREFIX, file_description, output_modality, synthetic_metadata
from ..models.registry import find_model
from ..tasks.anomaly.thresholds import anomaly_threshold_inputs
from ..tasks.anomaly.task import SUSPECTED_SEGMENT
from ..tasks.catalogue import get_task
from ..tasks.spec import TaskResult, TaskSpec
from ..tasks.synthesis.contrast_phases import DEFAULT_PHASE, parse_contrast
from .mrml import (SegmentMatch, check_output_node, labelmap_from_segmentation, publish_segmentation, publish_table,
                   publish_volume, show_overlay, style_heatmap, undone_on_error, volume_from_node)

RELATED_NODE_ROLES = {"table": "GANSynthesisScores", "chart": "GANSynthesisChart",
                      "segmentation": "GANSynthesisSegmentation"}

@dataclass
class PreparedRun:
    """Everything a run needs, read from the scene: task, model, input as a Volume, where the output goes."""

    task: TaskSpec
    bundle: ModelBundle
    input_node: Any
    volume: Volume
    inputs: dict[str, Any] = field(default_factory=dict)
    output_node: Any = None
    segment_matches: list[SegmentMatch] = field(default_factory=list)


def prepare(task_name: str, input_node, model: str | ModelBundle | None = None, reference_volume_node=None,
            output_node=None, segment_mapping: Mapping[str, str] | None = None) -> PreparedRun:
    """Read the input node into a Volume for ``task_name``; the scene is not changed."""
    task = get_task(task_name)
    bundle = model if isinstance(model, ModelBundle) else find_model(model, task_name)
    if input_node is None:
        raise GANSynthesisError("No input was given; select a segmentation or volume.")
    check_output_node(output_node, input_node)
    matches: list[SegmentMatch] = []
    if task.input_kind == "labelmap" and input_node.IsA("vtkMRMLSegmentationNode"):
        volume, matches = labelmap_from_segmentation(input_node, bundle.manifest.input.labels,
                                                     reference_volume_node, segment_mapping)
    elif input_node.IsA("vtkMRMLScalarVolumeNode"):
        if task.input_kind == "labelmap" and not input_node.IsA("vtkMRMLLabelMapVolumeNode"):
            raise GANSynthesisError(f"The {task.name} task takes a segmentation or label map; "
                                    f"{input_node.GetName()!r} is a scalar volume.")
        volume = volume_from_node(input_node)
    else:
        raise GANSynthesisError(f"{input_node.GetName()!r} ({input_node.GetClassName()}) cannot be the input of "
                                f"{task.name}.")
    return PreparedRun(task, bundle, input_node, volume, {}, output_node, matches)


def compute(run: PreparedRun, options: InferenceOptions | None = None) -> TaskResult:
    """Run the model; touches no MRML, so it may run in a worker thread."""
    return run.task.run(run.volume, run.bundle, run.inputs, options or InferenceOptions())


def publish(run: PreparedRun, result: TaskResult):
    """Add the result to the scene next to the input, marked synthetic; returns the output node.

    Warnings about the input are stored in the node's ``GANSynthesis.Warnings`` attribute. A heatmap is
    shown over the input in the slice views; its per-slice scores (table and chart) and thresholded
    segmentation are added too and referenced from the heatmap node (see :data:`RELATED_NODE_ROLES`).
    """
    name_suffix = f"synthetic {output_modality(run.bundle)}"
    attributes = synthetic_metadata(run.bundle, run.input_node.GetName(), result.warnings, result.summary)
    related = {}
    with undone_on_error(run.input_node.GetScene()):
        if result.slice_table:
            related["table"], related["chart"] = publish_table(run.input_node, result.slice_table, "anomaly scores",
                                                               attributes, "position_mm", "anomaly_score",
                                                               "anomaly score per slice")
        if result.segmentation is not None:
            related["segmentation"] = publish_segmentation(run.input_node, result.segmentation, SUSPECTED_SEGMENT,
                                                           (1.0, 0.85, 0.0), attributes)
        # last, so that a chosen output node is overwritten only once everything else is in the scene
        node = publish_volume(run.input_node, result.volume, name_suffix, attributes, run.task.output_display,
                              run.output_node)
    for role, other_node in related.items():
        node.SetNodeReferenceID(RELATED_NODE_ROLES[role], other_node.GetID())
    if run.task.output_display == "heat":
        style_heatmap(node, result.summary.get("threshold", float(result.volume.array.max()) or 1.0))
        show_overlay(run.input_node, node)
    return node


def related_node(output_node, role: str):
    """A node published with ``output_node``: 'table' (per-slice scores), 'chart' or 'segmentation'; None if none."""
    return output_node.GetNodeReference(RELATED_NODE_ROLES[role])


def run_task(task_name: str, input_node, model: str | ModelBundle | None = None, reference_volume_node=None,
             output_node=None, segment_mapping: Mapping[str, str] | None = None, device: str = "auto",
             batch_size: int | None = None, progress: Callable[[float, str], None] | None = None,
             cancel: Callable[[], bool] | None = None, inputs: Mapping[str, Any] | None = None):
    """Prepare, compute and publish in one call; returns the new (or chosen) output node. ``inputs``: task
    settings (e.g. ``{"threshold": 0.1}`` for anomaly)."""
    run = prepare(task_name, input_node, model, reference_volume_node, output_node, segment_mapping)
    run.inputs.update(inputs or {})
    result = compute(run, InferenceOptions(device=device, batch_size=batch_size, progress=progress, cancel=cancel))
    return publish(run, result)


def synthesize_ct(segmentation_node, reference_volume_node=None, model: str | ModelBundle | None = None,
                  contrast: str | float = DEFAULT_PHASE, **options) -> Any:
    """Synthetic CT volume node from a segmentation (or label-map) node, its blood at ``contrast`` (a phase:
    arterial, venous, none, model; or HU); see :func:`run_task` for options."""
    return run_task("synthesize", segmentation_node, model, reference_volume_node,
                    inputs={"contrast_hu": parse_contrast(contrast)}, **options)


def detect_anomalies(volume_node, model: str | ModelBundle | None = None, threshold: float | None = None,
                     normal_share: float | None = None, **options) -> Any:
    """Anomaly heatmap node over ``volume_node`` (plus scores table, chart and 'suspected anomaly' segmentation,
    see :func:`related_node`); ``threshold`` in heatmap units, or ``normal_share`` (0.01: the threshold that marks
    1 % of normal tissue on the model's calibration phantoms), default the model's calibrated threshold. Other
    options as for :func:`run_task`."""
    return run_task("anomaly", volume_node, model, inputs=anomaly_threshold_inputs(threshold, normal_share),
                    **options)


def evaluate(synthetic_node, reference_node, mask_node=None, error_map_node=None) -> tuple[dict, Any]:
    """SynthRAD2023 metrics of a synthetic volume against a real reference (inside ``mask_node`` if given, else
    the reference's body) and an error-map volume node (synthetic − reference, HU) next to the synthetic one."""
    from ..evaluation.against_reference import evaluate_volumes

    synthetic = volume_from_node(synthetic_node, "synthetic volume")
    reference = volume_from_node(reference_node, "reference volume")
    mask = volume_from_node(mask_node, "mask") if mask_node is not None else None
    metrics, error = evaluate_volumes(synthetic, reference, mask)
    attributes = {f"GANSynthesis.{key}": f"{value:.6g}" for key, value in metrics.items()}
    attributes["GANSynthesis.ErrorMapOf"] = f"{synthetic_node.GetName()} − {reference_node.GetName()}"
    node = publish_volume(synthetic_node, error, "error map", attributes, "error", error_map_node)
    return metrics, node


def export_volume(node, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a volume node to an image file that keeps its provenance, which Slicer's own Save drops: its
    ``GANSynthesis.*`` attributes become NRRD/MetaImage header keys, and the NIfTI description says that the image
    is synthetic (and by which model) or a phantom."""
    volume = volume_from_node(node, "volume to save")
    metadata = {name: node.GetAttribute(name) for name in node.GetAttributeNames() if name.startswith(PREFIX)}
    return write_volume(volume, path, metadata, file_description(metadata), overwrite)

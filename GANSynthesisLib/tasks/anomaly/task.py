"""The anomaly task: a scalar volume in, a heatmap of what a GAN of normal anatomy cannot explain out, with the
voxels at or above the threshold as a label map and a score per slice."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np

from ...core.volume import Volume
from ...files.image_files import write_image_file
from ...models.bundle import ModelBundle
from ...models.manifest import Manifest
from ..spec import ExtraOutput, TaskResult, TaskSpec
from .card_lines import anomaly_card_lines
from .thresholds import anomaly_threshold_inputs, resolve_threshold, threshold_summary, threshold_text

SUSPECTED_SEGMENT = "suspected anomaly"


def add_options(parser: argparse.ArgumentParser) -> None:
    threshold = parser.add_mutually_exclusive_group()
    threshold.add_argument("--threshold", type=float, help="heatmap threshold in (0, 1] (default: the model's "
                                                           "calibrated one)")
    threshold.add_argument("--normal-share", type=float, help="instead of --threshold: the threshold that marks "
                           "this share of normal tissue on the model's calibration phantoms, e.g. 0.01 for 1 %%")


def inputs_from_options(args: argparse.Namespace, bundle: ModelBundle) -> dict[str, float]:
    """The threshold of --threshold or --normal-share, checked against the model before any input is read."""
    inputs = anomaly_threshold_inputs(args.threshold, args.normal_share)
    if inputs:
        resolve_threshold(bundle.manifest, **inputs)
    return inputs


def run(volume: Volume, bundle: ModelBundle, inputs: dict[str, Any], options) -> TaskResult:
    from .detection import find_anomalies

    found = find_anomalies(volume, bundle, options, inputs.get("threshold"), inputs.get("normal_share"))
    suspected_ml = float(found.segmentation.array.sum()) * float(np.prod(volume.spacing)) / 1000.0
    summary = {"volume_score": found.volume_score, "suspected_ml": suspected_ml}
    return TaskResult(found.heatmap, found.warnings, found.segmentation, found.slice_table(),
                      summary | threshold_summary(bundle.manifest, found.threshold))


def highest_slice(result: TaskResult) -> dict[str, float]:
    """The per-slice score row of the most anomalous slice."""
    return max(result.slice_table, key=lambda row: row["anomaly_score"])


def summary_lines(result: TaskResult) -> list[str]:
    top = highest_slice(result)
    return [f"volume anomaly score {result.summary['volume_score']:.4g} (highest at slice {top['slice']}, "
            f"z = {top['position_mm']:.1f} mm)"]


def batch_row(result: TaskResult, output: Path) -> dict[str, Any]:
    """A case's volume score, where it peaks, how much is suspected, and its heatmap file."""
    top = highest_slice(result)
    return {"volume_score": round(result.summary["volume_score"], 4), "highest_slice": top["slice"],
            "position_mm": round(top["position_mm"], 2), "suspected_ml": round(result.summary["suspected_ml"], 3),
            "threshold": round(result.summary["threshold"], 6), "heatmap": output.name}


def write_segmentation(result: TaskResult, metadata: dict[str, str], path: Path) -> str:
    write_image_file(result.segmentation, path, metadata | {"GANSynthesis.Segment": SUSPECTED_SEGMENT})
    return f"{SUSPECTED_SEGMENT}: {result.summary['suspected_ml']:.2f} ml at {threshold_text(result.summary)}"


def write_scores(result: TaskResult, metadata: dict[str, str], path: Path) -> str:
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(result.slice_table[0]))
        writer.writeheader()
        writer.writerows(result.slice_table)
    return f"{len(result.slice_table)} slices"


def sample_input(manifest: Manifest) -> tuple[str, str] | None:
    """The lesion phantom's CT or MR, by the model's input modality."""
    modality = (manifest.input.modality or "").lower()
    role = "mr" if modality.startswith("mr") else "ct" if modality == "ct" else None
    return ("GAN lesion phantom", role) if role else None


ANOMALY = TaskSpec(
    name="anomaly", title="Anomaly heatmap (what a GAN of normal anatomy cannot explain)",
    command_help="volume → anomaly heatmap, suspected-anomaly label map, per-slice scores",
    input_kind="scalar", output_display="heat", run=run, add_options=add_options,
    inputs_from_options=inputs_from_options,
    extra_outputs=(
        ExtraOutput("--segmentation", "also write the voxels at or above the threshold as a 0/1 label map",
                    (".nii.gz", ".nii", ".nrrd", ".mha"), write_segmentation),
        ExtraOutput("--scores", "also write the per-slice anomaly scores as CSV", (".csv",), write_scores)),
    summary_lines=summary_lines, batch_row=batch_row, card_lines=anomaly_card_lines, sample_input=sample_input)

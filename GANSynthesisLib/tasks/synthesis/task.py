"""The synthesize task: a label map (segmentation) in, a synthetic CT on its grid out."""

from __future__ import annotations

import argparse
from typing import Any

from ...anatomy.label_mapping import parse_label_mapping, resolve_label_mapping
from ...anatomy.wholebody_classes import LABEL_SET
from ...core.volume import Volume
from ...models.bundle import ModelBundle
from ...models.manifest import Manifest
from ..spec import TaskResult, TaskSpec


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels", help="map your label values to the model's labels, e.g. "
                                         "'left ventricle=1,myocardium=2,right ventricle=3' (default: values the "
                                         "model recognises, MM-WHS or TotalSegmentator numbering)")


def inputs_from_options(args: argparse.Namespace, bundle: ModelBundle) -> dict[str, Any]:
    """The label mapping of ``--labels``, checked against the model's labels before any input is read."""
    if not getattr(args, "labels", None):
        return {}
    return {"label_mapping": resolve_label_mapping(parse_label_mapping(args.labels), bundle.manifest.input.labels)}


def run(volume: Volume, bundle: ModelBundle, inputs: dict[str, Any], options) -> TaskResult:
    from .label_values import present_values
    from .labels_to_ct import synthesize
    from .wholebody import MMWHS_MODEL_WARNING, is_wholebody_bundle, synthesize_wholebody

    mapping = inputs.get("label_mapping")
    if is_wholebody_bundle(bundle):  # whole-body label set (2.5-D): its own label handling and warnings
        synthetic, warnings = synthesize_wholebody(volume, bundle, mapping, options)
    else:
        synthetic, warnings = synthesize(volume, bundle, mapping, options), [MMWHS_MODEL_WARNING]
    absent = sorted(set(mapping) - set(present_values(volume.array))) if mapping else []
    if absent:
        warnings.insert(0, f"no voxel has the mapped label value(s) {', '.join(map(str, absent))}; check --labels")
    return TaskResult(synthetic, warnings)


def sample_input(manifest: Manifest) -> tuple[str, str] | None:
    """The whole-body phantom's segmentation fits a whole-body model, the heart phantom's every other label-map
    model."""
    if manifest.input.kind != "labelmap":
        return None
    sample = "GAN whole-body phantom" if manifest.input.label_set == LABEL_SET else "GAN heart phantom"
    return sample, "segmentation"


SYNTHESIZE = TaskSpec(
    name="synthesize", title="Synthesize CT from a segmentation", command_help="label map (segmentation) → synthetic CT",
    input_kind="labelmap", output_display="ct", run=run, add_options=add_options,
    inputs_from_options=inputs_from_options, sample_input=sample_input)

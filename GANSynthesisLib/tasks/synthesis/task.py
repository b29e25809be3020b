"""The synthesize task: a label map (segmentation) in, a synthetic CT on its grid out, its blood at the chosen
contrast phase."""

from __future__ import annotations

import argparse
from typing import Any

from ...anatomy.label_mapping import parse_label_mapping, resolve_label_mapping
from ...anatomy.wholebody_classes import takes_whole_body
from ...core.volume import Volume
from ...models.bundle import ModelBundle
from ...models.manifest import Manifest
from ..spec import TaskResult, TaskSpec
from .card_lines import synthesis_card_lines
from .contrast_phases import (CONTRAST_CLASSES, DEFAULT_PHASE, LEVEL_KEY, MODEL_PHASE, PHASES, describe_level,
                              drawn_key, parse_contrast)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels", help="map your label values to the model's labels, e.g. "
                                         "'left ventricle=1,myocardium=2,right ventricle=3' (default: values the "
                                         "model recognises, MM-WHS or TotalSegmentator numbering)")
    add_contrast_option(parser)


def add_contrast_option(parser: argparse.ArgumentParser) -> None:
    """--contrast: the blood HU of synthetic CTs (synthesize, generate)."""
    parser.add_argument("--contrast", metavar="PHASE|HU",
                        help="blood HU in the arteries and heart chambers: "
                             + ", ".join(f"{name} ({level:g} HU)" for name, level in PHASES.items())
                             + f", {MODEL_PHASE} (the network's own) or a number of HU (default: {DEFAULT_PHASE})")


def inputs_from_options(args: argparse.Namespace, bundle: ModelBundle) -> dict[str, Any]:
    """The label mapping of ``--labels`` and the ``--contrast`` level, checked before any input is read."""
    inputs: dict[str, Any] = {"contrast_hu": parse_contrast(getattr(args, "contrast", None) or DEFAULT_PHASE)}
    if getattr(args, "labels", None):
        inputs["label_mapping"] = resolve_label_mapping(parse_label_mapping(args.labels), bundle.manifest.input.labels)
    return inputs


def run(volume: Volume, bundle: ModelBundle, inputs: dict[str, Any], options) -> TaskResult:
    """The synthetic CT; ``inputs``: ``label_mapping`` (input value → model value) and ``contrast_hu`` (blood HU,
    None: the model's own; absent: the default phase)."""
    from .contrast_level import class_masks, label_masks, set_blood_level
    from ...engine.inference import run_translator
    from .label_values import present_values
    from .labels_to_ct import prepare_labelmap, translator_for
    from .wholebody import MMWHS_MODEL_WARNING, is_wholebody_bundle, synthesize_wholebody

    mapping = inputs.get("label_mapping")
    level = inputs.get("contrast_hu", PHASES[DEFAULT_PHASE])
    if is_wholebody_bundle(bundle):  # whole-body label set (2.5-D): its own label handling and warnings
        synthetic, warnings, classes = synthesize_wholebody(volume, bundle, mapping, options)
        masks = class_masks(classes) if level is not None else {}
    else:
        prepared = prepare_labelmap(volume, bundle, mapping)  # in the model's values, read once for both uses
        synthetic, warnings = run_translator(translator_for(bundle), prepared, options), [MMWHS_MODEL_WARNING]
        masks = label_masks(prepared.array, bundle.manifest.input.labels) if level is not None else {}
    summary: dict[str, float] = {}
    if masks:
        synthetic, drawn = set_blood_level(synthetic, masks, level)
        if drawn:
            summary = {LEVEL_KEY: level} | {drawn_key(name): value for name, value in drawn.items()}
    absent = sorted(set(mapping) - set(present_values(volume.array))) if mapping else []
    if absent:
        warnings.insert(0, f"no voxel has the mapped label value(s) {', '.join(map(str, absent))}; check --labels")
    return TaskResult(synthetic, warnings, summary=summary)


def summary_lines(result: TaskResult) -> list[str]:
    """The contrast level the blood was set to, beside what the network had drawn."""
    if LEVEL_KEY not in result.summary:
        return []
    drawn = ", ".join(f"{name} {result.summary[drawn_key(name)]:.0f} HU" for name in CONTRAST_CLASSES
                      if drawn_key(name) in result.summary)
    return [f"contrast: blood in arteries and heart chambers set to {describe_level(result.summary[LEVEL_KEY])} "
            f"(the network drew {drawn})"]


def sample_input(manifest: Manifest) -> tuple[str, str] | None:
    """The whole-body phantom's segmentation fits a whole-body model, the heart phantom's every other label-map
    model."""
    if manifest.input.kind != "labelmap":
        return None
    whole_body = takes_whole_body(manifest.input.label_set, manifest.input.labels)
    sample = "GAN whole-body phantom" if whole_body else "GAN heart phantom"
    return sample, "segmentation"


SYNTHESIZE = TaskSpec(
    name="synthesize", title="Synthesize CT from a segmentation", command_help="label map (segmentation) → synthetic CT",
    input_kind="labelmap", output_display="ct", run=run, add_options=add_options,
    inputs_from_options=inputs_from_options, summary_lines=summary_lines, card_lines=synthesis_card_lines,
    sample_input=sample_input)

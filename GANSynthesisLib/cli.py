"""Command line: ``python -m GANSynthesisLib <command> …`` (synthesize, translate, anomaly, batch, models, phantom,
evaluate, demo)."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable

from .anatomy.label_mapping import parse_label_mapping, resolve_label_mapping
from .core.devices import DEVICE_CHOICES
from .core.errors import GANSynthesisError
from .core.interrupts import interrupt_exit_status, termination_as_interrupt
from .core.progress import TerminalProgress
from .engine.inference import InferenceOptions
from .files.image_files import (IMAGE_FILE_SUFFIXES, check_writable_path, image_file_suffix, read_volume,
                                write_image_file)
from .files.output_set import OutputSet, check_output_folder, written_paths
from .models.bundle import ModelBundle
from .models.provenance import PHANTOM_KEY, file_description, synthetic_metadata
from .models.registry import find_model, survey_models
from .phantoms.thorax import SUPERSAMPLE_CHOICES
from .tasks.anomaly.thresholds import anomaly_threshold_inputs, resolve_threshold, threshold_text
from .tasks.model_cards import held_out_lines
from .tasks.registry import TASKS, TaskResult, get_task


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", "-i", required=True, help="input volume: NIfTI, NRRD, MHA file or DICOM folder")
    parser.add_argument("--output", "-o", required=True, help="output file (.nii.gz, .nii, .nrrd, .mha)")
    parser.add_argument("--model", "-m", help="model name or bundle folder (default: the task's default model)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default auto)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="slices per batch (default 8 on CPU, 64 on GPU)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _add_threshold_options(parser: argparse.ArgumentParser, note: str = "") -> None:
    threshold = parser.add_mutually_exclusive_group()
    threshold.add_argument("--threshold", type=float, help=f"{note}heatmap threshold in (0, 1] (default: the model's "
                                                           "calibrated one)")
    threshold.add_argument("--normal-share", type=float, help=f"{note}instead of --threshold: the threshold that marks "
                           "this share of normal tissue on the model's calibration phantoms, e.g. 0.01 for 1 %%")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m GANSynthesisLib",
                                     description="GAN image synthesis for medical volumes (research, not for diagnosis).")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synthesize", help="label map (segmentation) → synthetic CT")
    _add_run_options(synth)
    synth.add_argument("--labels", help="map your label values to the model's labels, e.g. "
                                        "'left ventricle=1,myocardium=2,right ventricle=3'")

    translate = commands.add_parser("translate", help="volume → the same anatomy in another modality (e.g. MR → CT)")
    _add_run_options(translate)

    anomaly = commands.add_parser("anomaly", help="volume → anomaly heatmap, suspected-anomaly label map, "
                                  "per-slice scores")
    _add_run_options(anomaly)
    anomaly.add_argument("--segmentation", help="also write the voxels at or above the threshold as a 0/1 label map")
    anomaly.add_argument("--scores", help="also write the per-slice anomaly scores as CSV")
    _add_threshold_options(anomaly)

    batch = commands.add_parser("batch", help="run a task on every case in a folder (skips cases already done)")
    batch.add_argument("task", choices=tuple(TASKS))
    batch.add_argument("--input-dir", required=True, help="folder of image files and/or DICOM series sub-folders")
    batch.add_argument("--output-dir", required=True)
    batch.add_argument("--suffix", default=None, help="output name = case name + suffix (default _synthetic_ct.nii.gz)")
    batch.add_argument("--model", "-m")
    batch.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    batch.add_argument("--batch-size", type=positive_int, default=None)
    batch.add_argument("--overwrite", action="store_true", help="redo cases whose output exists")
    _add_threshold_options(batch, "anomaly only: ")

    models = commands.add_parser("models", help="list installed models with task, labels and metrics")
    models.add_argument("--task", help="only models of this task")
    models.add_argument("--json", action="store_true", help="print the manifests as JSON")

    phantom = commands.add_parser("phantom", help="write a procedural thorax phantom (CT, labels, body mask)")
    phantom.add_argument("--output", "-o", required=True, help="output folder")
    phantom.add_argument("--seed", type=int, default=0)
    phantom.add_argument("--size", type=positive_int, nargs=3, default=(128, 128, 48), metavar=("X", "Y", "Z"))
    phantom.add_argument("--spacing", type=positive_float, nargs=3, default=(3.0, 3.0, 3.0), metavar=("X", "Y", "Z"))
    phantom.add_argument("--supersample", type=int, choices=SUPERSAMPLE_CHOICES, default=1, metavar="N",
                         help="each voxel averages N³ samples (1, 3 or 5): the partial volume of real scans at tissue "
                              "edges; labels and body mask stay those of the voxel centres (the bundled models were "
                              "trained on 1)")
    phantom.add_argument("--format", choices=("nii.gz", "nrrd", "mha"), default="nii.gz")
    phantom.add_argument("--lesions", action="store_true",
                         help="also write the phantom with inserted lesions as CT and MR, and their mask "
                              "(1 in the normal intensity range, 2 outside it)")
    phantom.add_argument("--overwrite", action="store_true")

    evaluate = commands.add_parser("evaluate", help="SynthRAD2023 metrics of a synthetic image against a reference")
    evaluate.add_argument("--synthetic", required=True)
    evaluate.add_argument("--reference", required=True)
    evaluate.add_argument("--mask", help="body mask (default: derived from the reference by a -500 HU threshold)")
    evaluate.add_argument("--json", action="store_true")

    demo = commands.add_parser("demo", help="phantom → default model → synthetic CT, previews and metrics")
    demo.add_argument("--output", "-o", default="demo-output", help="output folder (default demo-output)")
    demo.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    demo.add_argument("--model", "-m", help="synthesis model (default: the bundled default)")
    return parser


ExtraOutput = Callable[[TaskResult, dict, Path], str]  # writes one more output of a run; returns its 'wrote' note


def run_task(task_name: str, args: argparse.Namespace, bundle: ModelBundle, inputs: dict,
             extra_outputs: dict[Path, ExtraOutput] | None = None) -> tuple[TaskResult, dict]:
    """Read the input, run the task with the chosen model and write the output with provenance, plus
    ``extra_outputs``; every output is checked and locked before the input is read, and all of them appear
    together or none does. Returns the result and the provenance written with it."""
    task = get_task(task_name)
    output = check_writable_path(args.output, args.overwrite, [args.input])
    extra_outputs = extra_outputs or {}
    with OutputSet([output, *extra_outputs], args.overwrite, [args.input]) as outputs:
        volume = read_volume(args.input)
        progress = None if args.quiet else TerminalProgress(f"{task_name} ({bundle.name})")
        options = InferenceOptions(device=args.device, batch_size=args.batch_size, progress=progress)
        result = task.run(volume, bundle, inputs, options)
        metadata = synthetic_metadata(bundle, str(args.input), result.warnings)
        write_image_file(result.volume, outputs.staged(output), metadata, file_description(metadata))
        notes = [write(result, metadata, outputs.staged(path)) for path, write in extra_outputs.items()]
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {output} ({' × '.join(map(str, result.volume.size))} voxels, synthetic "
          f"{bundle.manifest.output.modality} by {bundle.name})")
    for path, note in zip(extra_outputs, notes):
        print(f"wrote {path} ({note})")
    return result, metadata


def cmd_synthesize(args: argparse.Namespace) -> int:
    bundle = find_model(args.model, "synthesize")
    inputs = {}
    if args.labels:
        inputs["label_mapping"] = resolve_label_mapping(parse_label_mapping(args.labels), bundle.manifest.input.labels)
    run_task("synthesize", args, bundle, inputs)
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    run_task("translate", args, find_model(args.model, "translate"), {})
    return 0


def write_csv(rows: list[dict], path: Path) -> None:
    """Rows as CSV (header from the first row's keys) to exactly ``path`` (a staged output)."""
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def threshold_inputs(args: argparse.Namespace, bundle: ModelBundle) -> dict[str, float]:
    """The anomaly task's inputs from --threshold or --normal-share, checked against the model before any input
    is read."""
    inputs = anomaly_threshold_inputs(args.threshold, args.normal_share)
    if inputs and bundle.task != "anomaly":
        raise GANSynthesisError(f"--threshold and --normal-share apply to the anomaly task only, not {bundle.task}.")
    if inputs:
        resolve_threshold(bundle.manifest, **inputs)
    return inputs


def _write_segmentation(result: TaskResult, metadata: dict, path: Path) -> str:
    write_image_file(result.segmentation, path, metadata | {"GANSynthesis.Segment": "suspected anomaly"})
    return f"suspected anomaly: {result.summary['suspected_ml']:.2f} ml at {threshold_text(result.summary)}"


def _write_scores(result: TaskResult, metadata: dict, path: Path) -> str:
    write_csv(result.slice_table, path)
    return f"{len(result.slice_table)} slices"


def cmd_anomaly(args: argparse.Namespace) -> int:
    bundle = find_model(args.model, "anomaly")
    extra_outputs = {}
    if args.segmentation:
        extra_outputs[check_writable_path(args.segmentation, args.overwrite, [args.input])] = _write_segmentation
    if args.scores:
        scores = Path(args.scores)
        if scores.suffix.lower() != ".csv":
            raise GANSynthesisError(f"The scores file must end in .csv; got {scores.name}.")
        extra_outputs[scores] = _write_scores
    result, _ = run_task("anomaly", args, bundle, threshold_inputs(args, bundle), extra_outputs)
    top = highest_slice(result)
    print(f"volume anomaly score {result.summary['volume_score']:.4g} (highest at slice {top['slice']}, "
          f"z = {top['position_mm']:.1f} mm)")
    return 0


def highest_slice(result) -> dict:
    """The per-slice score row of an anomaly result's most anomalous slice."""
    return max(result.slice_table, key=lambda row: row["anomaly_score"])


def case_summary(name: str, result, output: Path) -> dict:
    """One row of the batch summary: a case's volume score, where it peaks and how much is suspected."""
    top = highest_slice(result)
    return {"case": name, "volume_score": round(result.summary["volume_score"], 4), "highest_slice": top["slice"],
            "position_mm": round(top["position_mm"], 2), "suspected_ml": round(result.summary["suspected_ml"], 3),
            "threshold": round(result.summary["threshold"], 6), "heatmap": output.name}


def merge_summary(rows: list[dict], path: Path) -> None:
    """Add or replace these cases' rows in the summary CSV; rows of cases not run this time are kept."""
    cases = {row["case"] for row in rows}
    with OutputSet([path], overwrite=True) as outputs:
        kept = []
        if path.exists():
            with open(path, newline="") as stream:
                kept = [row for row in csv.DictReader(stream) if row["case"] not in cases]
        write_csv(sorted(kept + rows, key=lambda row: row["case"]), outputs.staged(path))


def batch_cases(folder: Path) -> list[tuple[str, Path]]:
    """(case name, path) for each image file and each sub-folder (a DICOM series) of ``folder``, hidden ones
    excepted; cases of one name in two formats are told apart by their format (case_nii_gz, case_nrrd)."""
    if not folder.is_dir():
        raise GANSynthesisError(f"Input folder not found: {folder}.")
    cases = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):  # hidden: another run's temporary or lock file, or not a case
            continue
        suffix = image_file_suffix(path.name)
        if suffix:
            cases.append((path.name[: -len(suffix)], path))
        elif path.is_dir():
            cases.append((path.name, path))
    if not cases:
        raise GANSynthesisError(f"No images ({', '.join(IMAGE_FILE_SUFFIXES)}) or DICOM folders in {folder}.")
    shared = Counter(name for name, _ in cases)  # case.nii.gz beside case.nrrd: each named after its format too
    cases = [(f"{name}_{path.name[len(name):].lstrip('.').replace('.', '_')}" if shared[name] > 1 and path.is_file()
              else name, path) for name, path in cases]
    clashes = sorted(name for name, count in Counter(name for name, _ in cases).items() if count > 1)
    if clashes:
        raise GANSynthesisError(f"Several cases in {folder} would share the output name(s) {', '.join(clashes)}; "
                                "rename them so each case has its own name.")
    return cases


def cmd_batch(args: argparse.Namespace) -> int:
    task, bundle = get_task(args.task), find_model(args.model, args.task)
    inputs = threshold_inputs(args, bundle)
    cases = batch_cases(Path(args.input_dir))
    suffix = args.suffix or f"_synthetic_{bundle.manifest.output.modality.lower().replace(' ', '_')}.nii.gz"
    if not image_file_suffix(suffix) or Path(f"case{suffix}").name != f"case{suffix}":
        raise GANSynthesisError(f"--suffix {suffix!r} must end in one of {', '.join(IMAGE_FILE_SUFFIXES)} and name no "
                                "folder, e.g. _synthetic_ct.nii.gz.")
    output_dir = check_output_folder(args.output_dir, [args.input_dir])
    failed, summaries = 0, []
    for number, (name, path) in enumerate(cases, start=1):
        output = output_dir / f"{name}{suffix}"
        prefix = f"[{number}/{len(cases)}] {name}:"
        if output.exists() and not args.overwrite:
            print(f"{prefix} skipped, {output.name} exists", flush=True)
            continue
        started = time.perf_counter()
        try:
            with OutputSet([output], overwrite=True, inputs=[path]) as outputs:
                result = task.run(read_volume(path), bundle, inputs, InferenceOptions(args.device, args.batch_size))
                metadata = synthetic_metadata(bundle, str(path), result.warnings)
                write_image_file(result.volume, outputs.staged(output), metadata, file_description(metadata))
        except Exception as error:  # noqa: BLE001 - one case's failure, whatever it is, must not stop the others
            failed += 1
            reason = error if isinstance(error, GANSynthesisError) else f"unexpected {type(error).__name__}: {error}"
            print(f"{prefix} failed: {reason}", file=sys.stderr, flush=True)
            continue
        note = f" (warning: {'; '.join(result.warnings)})" if result.warnings else ""
        if result.summary:
            summaries.append(case_summary(name, result, output))
            note = f", volume anomaly score {result.summary['volume_score']:.4g}{note}"
        print(f"{prefix} done in {time.perf_counter() - started:.1f} s → {output}{note}", flush=True)
    if summaries:
        merge_summary(summaries, output_dir / "summary.csv")
        print(f"wrote {output_dir / 'summary.csv'} (one row per case: volume score, highest slice, suspected ml)")
    if failed:
        print(f"error: {failed} of {len(cases)} cases failed (see above)", file=sys.stderr)
        return 2
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    if args.task is not None:
        get_task(args.task)
    entries = [e for e in survey_models() if e.bundle is None or args.task in (None, e.bundle.task)]
    if args.json:
        print(json.dumps([(e.bundle.manifest.to_dict() | {"path": str(e.path), "state": "ok"}) if e.bundle else
                          {"path": str(e.path), "state": "broken", "problem": e.problem} for e in entries], indent=2))
        return 0
    if not entries:
        print("no models installed")
    for entry in entries:
        if entry.bundle is None:
            print(f"{entry.path.name}  [broken: not usable]\n  problem: {entry.problem}\n  path: {entry.path}")
            continue
        bundle = entry.bundle
        m = bundle.manifest
        print(f"{bundle.name}  [{bundle.task}]  v{m.version}{'  (default)' if m.default else ''}")
        print(f"  {bundle.title}")
        if m.input.labels is not None:
            print("  labels: " + ", ".join(f"{k}={v}" for k, v in m.input.labels.items()))
        else:
            output = (m.output.modality or "image") + (f" ({m.output.units})" if m.output.units else "")
            print(f"  input: {m.input.modality or 'image'} → output: {output}")
        if m.metrics:
            print(f"  held-out data: {m.metrics.get('data', '')}")
        for line in held_out_lines(m):
            print(f"  {line}")
        print(f"  trained on: {m.training.get('data', 'not stated')}")
        print(f"  intended use: {m.intended_use}   path: {bundle.path}")
    return 0


def cmd_phantom(args: argparse.Namespace) -> int:
    from .phantoms.lesions import lesions_in
    from .phantoms.thorax import generate_phantom

    folder = check_output_folder(args.output)
    names = ("ct", "labels", "body") + (("ct_lesions", "mr_lesions", "lesion_mask") if args.lesions else ())
    paths = {name: folder / f"{name}.{args.format}" for name in names}
    note = {PHANTOM_KEY: f"seed {args.seed}"}
    with OutputSet(paths.values(), args.overwrite) as outputs:
        phantom = generate_phantom(args.seed, tuple(args.size), tuple(args.spacing), args.supersample)
        volumes = {"ct": phantom.ct, "labels": phantom.labels, "body": phantom.body}
        if args.lesions:
            cases = lesions_in(phantom, ("ct", "mr"))
            volumes |= {f"{modality}_lesions": case.image for modality, case in cases.items()}
            volumes["lesion_mask"] = cases["ct"].mask
        for name, volume in volumes.items():
            write_image_file(volume, outputs.staged(paths[name]), note, file_description(note))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.against_reference import evaluate_volumes

    synthetic, reference = read_volume(args.synthetic), read_volume(args.reference)
    mask = read_volume(args.mask) if args.mask else None
    metrics, _ = evaluate_volumes(synthetic, reference, mask)
    undefined = [name for name, value in metrics.items() if math.isnan(value)]
    if undefined:
        raise GANSynthesisError(f"The metric(s) {', '.join(undefined)} are undefined (NaN) for these volumes, e.g. "
                                "a constant image or non-finite voxels in the mask; nothing to report.")
    if args.json:  # strict JSON: an infinite PSNR (identical images) becomes null
        print(json.dumps({name: None if math.isinf(value) else value for name, value in metrics.items()},
                         allow_nan=False))
    else:
        print(f"MAE {metrics['mae']:.1f} HU   PSNR {metrics['psnr']:.2f} dB   SSIM {metrics['ssim']:.4f}   "
              f"({metrics['mask_voxels']} voxels in the mask)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    metrics = run_demo(Path(args.output), args.device, args.model)
    print(f"synthetic CT: {args.output}/synthetic_ct.nii.gz   preview: {args.output}/preview.png")
    print(f"against the phantom's real CT, in the body: MAE {metrics['mae']:.1f} HU, PSNR {metrics['psnr']:.2f} dB, "
          f"SSIM {metrics['ssim']:.3f}")
    print(f"mean HU: left ventricle {metrics['mean_hu_left_ventricle']:.0f}, "
          f"myocardium {metrics['mean_hu_myocardium']:.0f}")
    return 0


COMMANDS = {"demo": cmd_demo, "synthesize": cmd_synthesize, "translate": cmd_translate, "anomaly": cmd_anomaly,
            "batch": cmd_batch, "models": cmd_models, "phantom": cmd_phantom, "evaluate": cmd_evaluate}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    already_written = len(written_paths())
    try:
        with termination_as_interrupt():
            status = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:  # the reader stopped early (`| head`); what it read is complete
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python exits
        return 141  # as a shell reports a command ended by SIGPIPE
    except GANSynthesisError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        written = written_paths()[already_written:]
        done = f"only these were written: {', '.join(map(str, written))}" if written else "nothing was written"
        print(f"error: interrupted{f' by {interrupt}' if str(interrupt) else ''}; {done}", file=sys.stderr)
        return interrupt_exit_status(interrupt)

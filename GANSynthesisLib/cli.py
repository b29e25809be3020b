"""Command line: ``python -m GANSynthesisLib <command> …`` (synthesize, translate, anomaly, batch, models, phantom,
evaluate, demo)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

from .bundle import ModelBundle
from .cards import held_out_lines
from .devices import DEVICE_CHOICES
from .errors import GANSynthesisError
from .inference import InferenceOptions
from .io import IMAGE_FILE_SUFFIXES, check_writable_path, image_file_suffix, read_volume, write_volume
from .labels import parse_label_mapping, resolve_label_mapping
from .phantom import SUPERSAMPLE_CHOICES
from .progress import TerminalProgress
from .provenance import PHANTOM_KEY, file_description, synthetic_metadata
from .registry import find_model, list_models
from .tasks import TASKS, TaskResult, get_task
from .thresholds import anomaly_threshold_inputs, resolve_threshold, threshold_text


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", "-i", required=True, help="input volume: NIfTI, NRRD, MHA file or DICOM folder")
    parser.add_argument("--output", "-o", required=True, help="output file (.nii.gz, .nii, .nrrd, .mha)")
    parser.add_argument("--model", "-m", help="model name or bundle folder (default: the task's default model)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default auto)")
    parser.add_argument("--batch-size", type=int, default=None, help="slices per batch (default 8 on CPU, 64 on GPU)")
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
    batch.add_argument("--batch-size", type=int, default=None)
    batch.add_argument("--overwrite", action="store_true", help="redo cases whose output exists")
    _add_threshold_options(batch, "anomaly only: ")

    models = commands.add_parser("models", help="list installed models with task, labels and metrics")
    models.add_argument("--task", help="only models of this task")
    models.add_argument("--json", action="store_true", help="print the manifests as JSON")

    phantom = commands.add_parser("phantom", help="write a procedural thorax phantom (CT, labels, body mask)")
    phantom.add_argument("--output", "-o", required=True, help="output folder")
    phantom.add_argument("--seed", type=int, default=0)
    phantom.add_argument("--size", type=int, nargs=3, default=(128, 128, 48), metavar=("X", "Y", "Z"))
    phantom.add_argument("--spacing", type=float, nargs=3, default=(3.0, 3.0, 3.0), metavar=("X", "Y", "Z"))
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


def run_task(task_name: str, args: argparse.Namespace, bundle: ModelBundle, inputs: dict) -> tuple[TaskResult, dict]:
    """Read the input, run the task with the chosen model, write the output with provenance; returns the
    result and the provenance written with it."""
    task = get_task(task_name)
    output = check_writable_path(args.output, args.overwrite)
    volume = read_volume(args.input)
    progress = None if args.quiet else TerminalProgress(f"{task_name} ({bundle.name})")
    options = InferenceOptions(device=args.device, batch_size=args.batch_size, progress=progress)
    result = task.run(volume, bundle, inputs, options)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    metadata = synthetic_metadata(bundle, str(args.input), result.warnings)
    write_volume(result.volume, output, metadata, file_description(metadata), overwrite=args.overwrite)
    print(f"wrote {output} ({' × '.join(map(str, result.volume.size))} voxels, synthetic "
          f"{bundle.manifest['output']['modality']} by {bundle.name})")
    return result, metadata


def cmd_synthesize(args: argparse.Namespace) -> int:
    bundle = find_model(args.model, "synthesize")
    inputs = {}
    if args.labels:
        inputs["label_mapping"] = resolve_label_mapping(parse_label_mapping(args.labels), bundle.manifest["input"]["labels"])
    run_task("synthesize", args, bundle, inputs)
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    run_task("translate", args, find_model(args.model, "translate"), {})
    return 0


def write_csv(rows: list[dict], path: Path) -> None:
    """Rows as CSV (header from the first row's keys), written to a temporary file first."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)


def threshold_inputs(args: argparse.Namespace, bundle: ModelBundle) -> dict[str, float]:
    """The anomaly task's inputs from --threshold or --normal-share, checked against the model before any input
    is read."""
    inputs = anomaly_threshold_inputs(args.threshold, args.normal_share)
    if inputs and bundle.task != "anomaly":
        raise GANSynthesisError(f"--threshold and --normal-share apply to the anomaly task only, not {bundle.task}.")
    if inputs:
        resolve_threshold(bundle.manifest, **inputs)
    return inputs


def cmd_anomaly(args: argparse.Namespace) -> int:
    bundle = find_model(args.model, "anomaly")
    segmentation = check_writable_path(args.segmentation, args.overwrite) if args.segmentation else None
    scores = Path(args.scores) if args.scores else None
    if scores is not None:
        if scores.suffix.lower() != ".csv":
            raise GANSynthesisError(f"The scores file must end in .csv; got {scores.name}.")
        if scores.exists() and not args.overwrite:
            raise GANSynthesisError(f"{scores} exists; choose another name or pass --overwrite.")
    result, metadata = run_task("anomaly", args, bundle, threshold_inputs(args, bundle))
    if segmentation is not None:
        write_volume(result.segmentation, segmentation, metadata | {"GANSynthesis.Segment": "suspected anomaly"},
                     overwrite=args.overwrite)
        print(f"wrote {segmentation} (suspected anomaly: {result.summary['suspected_ml']:.2f} ml at "
              f"{threshold_text(result.summary)})")
    if scores is not None:
        write_csv(result.slice_table, scores)
        print(f"wrote {scores} ({len(result.slice_table)} slices)")
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
    kept = []
    if path.exists():
        with open(path, newline="") as stream:
            kept = [row for row in csv.DictReader(stream) if row["case"] not in cases]
    write_csv(sorted(kept + rows, key=lambda row: row["case"]), path)


def batch_cases(folder: Path) -> list[tuple[str, Path]]:
    """(case name, path) for each image file and each sub-folder (a DICOM series) of ``folder``."""
    if not folder.is_dir():
        raise GANSynthesisError(f"Input folder not found: {folder}.")
    cases = []
    for path in sorted(folder.iterdir()):
        suffix = image_file_suffix(path.name)
        if suffix:
            cases.append((path.name[: -len(suffix)], path))
        elif path.is_dir():
            cases.append((path.name, path))
    if not cases:
        raise GANSynthesisError(f"No images ({', '.join(IMAGE_FILE_SUFFIXES)}) or DICOM folders in {folder}.")
    return cases


def cmd_batch(args: argparse.Namespace) -> int:
    task, bundle = get_task(args.task), find_model(args.model, args.task)
    inputs = threshold_inputs(args, bundle)
    cases = batch_cases(Path(args.input_dir))
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    suffix = args.suffix or f"_synthetic_{bundle.manifest['output']['modality'].lower().replace(' ', '_')}.nii.gz"
    failed, summaries = 0, []
    for number, (name, path) in enumerate(cases, start=1):
        output = output_dir / f"{name}{suffix}"
        prefix = f"[{number}/{len(cases)}] {name}:"
        if output.exists() and not args.overwrite:
            print(f"{prefix} skipped, {output.name} exists", flush=True)
            continue
        started = time.perf_counter()
        try:
            result = task.run(read_volume(path), bundle, inputs, InferenceOptions(args.device, args.batch_size))
            metadata = synthetic_metadata(bundle, str(path), result.warnings)
            write_volume(result.volume, output, metadata, file_description(metadata), overwrite=True)
        except GANSynthesisError as error:
            failed += 1
            print(f"{prefix} failed: {error}", file=sys.stderr, flush=True)
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
    bundles = list_models(args.task)
    if args.json:
        print(json.dumps([b.manifest | {"path": str(b.path)} for b in bundles], indent=2))
        return 0
    if not bundles:
        print("no models installed")
    for bundle in bundles:
        m = bundle.manifest
        print(f"{bundle.name}  [{bundle.task}]  v{m['version']}{'  (default)' if m.get('default') else ''}")
        print(f"  {bundle.title}")
        if "labels" in m["input"]:
            print("  labels: " + ", ".join(f"{k}={v}" for k, v in m["input"]["labels"].items()))
        else:
            output = m["output"].get("modality", "image") + (f" ({m['output']['units']})" if "units" in m["output"] else "")
            print(f"  input: {m['input'].get('modality', 'image')} → output: {output}")
        if m.get("metrics"):
            print(f"  held-out data: {m['metrics'].get('data', '')}")
        for line in held_out_lines(m):
            print(f"  {line}")
        print(f"  trained on: {m['training']['data']}")
        print(f"  intended use: {m['intended_use']}   path: {bundle.path}")
    return 0


def cmd_phantom(args: argparse.Namespace) -> int:
    from .lesions import lesions_in
    from .phantom import generate_phantom

    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    names = ("ct", "labels", "body") + (("ct_lesions", "mr_lesions", "lesion_mask") if args.lesions else ())
    paths = {name: folder / f"{name}.{args.format}" for name in names}
    for path in paths.values():
        check_writable_path(path, args.overwrite)
    phantom = generate_phantom(args.seed, tuple(args.size), tuple(args.spacing), args.supersample)
    note = {PHANTOM_KEY: f"seed {args.seed}"}
    described = dict(metadata=note, description=file_description(note), overwrite=args.overwrite)
    write_volume(phantom.ct, paths["ct"], **described)
    write_volume(phantom.labels, paths["labels"], **described)
    write_volume(phantom.body, paths["body"], **described)
    if args.lesions:
        cases = lesions_in(phantom, ("ct", "mr"))
        for modality, case in cases.items():
            write_volume(case.image, paths[f"{modality}_lesions"], **described)
        write_volume(cases["ct"].mask, paths["lesion_mask"], **described)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_volumes

    synthetic, reference = read_volume(args.synthetic), read_volume(args.reference)
    mask = read_volume(args.mask) if args.mask else None
    metrics, _ = evaluate_volumes(synthetic, reference, mask)
    if args.json:
        print(json.dumps(metrics))
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
    try:
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:  # the reader stopped early (`| head`); what it read is complete
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python exits
        return 141  # as a shell reports a command ended by SIGPIPE
    except GANSynthesisError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130

"""Command line: ``python -m GANSynthesisLib <command> …``. One subcommand per registered task (synthesize,
translate, anomaly, …), ``batch`` over a folder for any task, ``models``, ``phantom``, ``evaluate``, ``demo``, and
the dataset commands (``generate``, ``copy-check``, ``reading-score``)."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path

from .command_options import add_model_options, chosen_model, positive_float, positive_int
from .core.devices import DEVICE_CHOICES
from .core.errors import GANSynthesisError
from .core.interrupts import interrupt_exit_status, termination_as_interrupt
from .core.progress import TerminalProgress
from .dataset_commands import DATASET_COMMANDS, add_dataset_commands
from .engine.inference import InferenceOptions
from .files.case_folder import image_cases
from .files.image_files import IMAGE_FILE_SUFFIXES, check_writable_path, image_file_suffix, read_volume, write_image_file
from .files.output_set import OutputSet, check_output_folder, written_paths
from .models.provenance import PHANTOM_KEY, file_description
from .models.registry import survey_models, task_defaults
from .phantoms.thorax import SUPERSAMPLE_CHOICES
from .tasks.catalogue import TASKS, get_task
from .tasks.model_cards import held_out_lines
from .tasks.run_to_files import run_to_files
from .tasks.spec import TaskSpec


def _task_options(task: TaskSpec) -> set[str]:
    """The names of the options a task adds to a command line."""
    probe = argparse.ArgumentParser(add_help=False)
    task.add_options(probe)
    return set(vars(probe.parse_args([])))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m GANSynthesisLib",
                                     description="GAN image synthesis for medical volumes (research, not for diagnosis).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for task in TASKS.values():
        run = commands.add_parser(task.name, help=task.command_help, description=f"{task.title}: {task.command_help}.")
        run.add_argument("--input", "-i", required=True, help="input volume: NIfTI, NRRD, MHA file or DICOM folder")
        run.add_argument("--output", "-o", required=True, help="output file (.nii.gz, .nii, .nrrd, .mha)")
        add_model_options(run)
        run.add_argument("--overwrite", action="store_true", help="replace existing output files")
        run.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
        task.add_options(run)
        for extra in task.extra_outputs:
            run.add_argument(extra.flag, help=f"{extra.help} ({' or '.join(extra.suffixes)})")

    batch = commands.add_parser("batch", help="run a task on every case in a folder (skips cases already done)")
    batch.add_argument("task", choices=tuple(TASKS), help="the task to run on each case")
    batch.add_argument("--input-dir", required=True, help="folder of image files and/or DICOM series sub-folders")
    batch.add_argument("--output-dir", required=True, help="folder for the outputs (created; not inside --input-dir)")
    batch.add_argument("--suffix", default=None, help="output name = case name + suffix (default "
                                                      "_synthetic_<output modality>.nii.gz, e.g. _synthetic_ct.nii.gz)")
    add_model_options(batch)
    batch.add_argument("--overwrite", action="store_true", help="redo cases whose output exists")
    for task in TASKS.values():
        task.add_options(batch.add_argument_group(f"{task.name} only"))

    models = commands.add_parser("models", help="list installed models with task, labels and held-out results")
    models.add_argument("--task", help="only models of this task")
    models.add_argument("--json", action="store_true", help="print the manifests as JSON")

    phantom = commands.add_parser("phantom", help="write a procedural thorax phantom (CT, labels, body mask; "
                                                  "optionally MR, low-dose CT, lesions)")
    phantom.add_argument("--output", "-o", required=True, help="output folder")
    phantom.add_argument("--seed", type=int, default=0, help="random seed of the anatomy (default 0; the bundled "
                                                             "models never trained on seeds 70000 and above)")
    phantom.add_argument("--size", type=positive_int, nargs=3, default=(128, 128, 48), metavar=("X", "Y", "Z"),
                         help="voxels (default 128 128 48)")
    phantom.add_argument("--spacing", type=positive_float, nargs=3, default=(3.0, 3.0, 3.0), metavar=("X", "Y", "Z"),
                         help="voxel size in mm (default 3 3 3, the bundled models' grid)")
    phantom.add_argument("--supersample", type=int, choices=SUPERSAMPLE_CHOICES, default=1, metavar="N",
                         help="each voxel averages N³ samples (1, 3 or 5): the partial volume of real scans at tissue "
                              "edges; labels and body mask stay those of the voxel centres (the bundled models were "
                              "trained on 1)")
    phantom.add_argument("--format", choices=("nii.gz", "nrrd", "mha"), default="nii.gz", help="file format")
    phantom.add_argument("--mr", action="store_true", help="also write the anatomy as T1-weighted MR (mr.*), an "
                                                           "input for `translate -m mr-to-ct-phantom`")
    phantom.add_argument("--low-dose", action="store_true", help="also write the CT at low dose (ct_low_dose.*: "
                                                                 "sinogram noise), an input for the low-dose denoiser")
    phantom.add_argument("--lesions", action="store_true",
                         help="also write the phantom with inserted lesions as CT and MR, and their mask "
                              "(1 in the normal intensity range, 2 outside it)")
    phantom.add_argument("--overwrite", action="store_true", help="replace existing files")

    evaluate = commands.add_parser("evaluate", help="SynthRAD2023 metrics of a synthetic image against a reference")
    evaluate.add_argument("--synthetic", required=True, help="the synthetic volume")
    evaluate.add_argument("--reference", required=True, help="the real volume on the same grid")
    evaluate.add_argument("--mask", help="body mask (default: derived from the reference by a -500 HU threshold)")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")

    demo = commands.add_parser("demo", help="phantom → default model → synthetic CT, previews and metrics")
    demo.add_argument("--output", "-o", default="demo-output", help="output folder (default demo-output)")
    demo.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default auto)")
    demo.add_argument("--model", "-m", help="synthesis model (default: the bundled default)")
    add_dataset_commands(commands)
    return parser


def cmd_task(args: argparse.Namespace) -> int:
    task = get_task(args.command)
    extra_outputs = {}
    for extra in task.extra_outputs:
        path = getattr(args, extra.dest)
        if path is None:
            continue
        if not any(Path(path).name.lower().endswith(suffix) for suffix in extra.suffixes):
            raise GANSynthesisError(f"The {extra.flag} file must end in {' or '.join(extra.suffixes)}; "
                                    f"got {Path(path).name}.")
        extra_outputs[Path(path)] = extra  # checked with the output when the run locks them
    output = check_writable_path(args.output, args.overwrite, [args.input])
    bundle = chosen_model(args, task)
    inputs = task.inputs_from_options(args, bundle)
    progress = None if args.quiet else TerminalProgress(f"{task.name} ({bundle.name})")
    done = run_to_files(task, bundle, args.input, output, inputs,
                        InferenceOptions(device=args.device, batch_size=args.batch_size, progress=progress),
                        extra_outputs, args.overwrite)
    for warning in done.result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {output} ({' × '.join(map(str, done.result.volume.size))} voxels, synthetic "
          f"{bundle.manifest.output.modality} by {bundle.name})")
    for path, note in done.notes.items():
        print(f"wrote {path} ({note})")
    for line in task.summary_lines(done.result):
        print(line)
    return 0


def merge_summary(rows: list[dict], path: Path) -> None:
    """Add or replace these cases' rows in the summary CSV; rows of cases not run this time are kept."""
    cases = {row["case"] for row in rows}
    with OutputSet([path], overwrite=True) as outputs:
        kept = []
        if path.exists():
            with open(path, newline="") as stream:
                kept = [row for row in csv.DictReader(stream) if row["case"] not in cases]
        with open(outputs.staged(path), "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(sorted(kept + rows, key=lambda row: row["case"]))


def refuse_other_tasks_options(args: argparse.Namespace) -> None:
    """A batch run refuses options that belong to another task than its own."""
    for other in TASKS.values():
        given = sorted(name for name in _task_options(other) - _task_options(get_task(args.task))
                       if getattr(args, name, None) not in (None, False))
        if given:
            flags = " and ".join(f"--{name.replace('_', '-')}" for name in given)
            raise GANSynthesisError(f"{flags} apply to the {other.name} task only, not {args.task}.")


def cmd_batch(args: argparse.Namespace) -> int:
    task = get_task(args.task)
    refuse_other_tasks_options(args)
    bundle = chosen_model(args, task)
    inputs = task.inputs_from_options(args, bundle)
    cases = image_cases(Path(args.input_dir))
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
            result = run_to_files(task, bundle, path, output, inputs, InferenceOptions(args.device, args.batch_size),
                                  overwrite=True).result
        except Exception as error:  # noqa: BLE001 - one case's failure, whatever it is, must not stop the others
            failed += 1
            reason = error if isinstance(error, GANSynthesisError) else f"unexpected {type(error).__name__}: {error}"
            print(f"{prefix} failed: {reason}", file=sys.stderr, flush=True)
            continue
        row = task.batch_row(result, output)
        if row:
            summaries.append({"case": name, **row})
        notes = [*task.summary_lines(result), *(f"warning: {w}" for w in result.warnings)]
        note = f" ({'; '.join(notes)})" if notes else ""
        print(f"{prefix} done in {time.perf_counter() - started:.1f} s → {output}{note}", flush=True)
    if summaries:
        merge_summary(summaries, output_dir / "summary.csv")
        print(f"wrote {output_dir / 'summary.csv'} (one row per case: {', '.join(list(summaries[0])[1:])})")
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
    defaults = task_defaults([e.bundle for e in entries if e.bundle is not None])
    for entry in entries:
        if entry.bundle is None:
            print(f"{entry.path.name}  [broken: not usable]\n  problem: {entry.problem}\n  path: {entry.path}")
            continue
        bundle = entry.bundle
        m = bundle.manifest
        mark = "  (default)" if defaults[bundle.task].path == bundle.path else ""
        print(f"{bundle.name}  [{bundle.task}]  v{m.version}{mark}")
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
    from .phantoms.modalities import low_dose_ct, render_mr
    from .phantoms.thorax import generate_phantom

    folder = check_output_folder(args.output)
    names = (("ct", "labels", "body") + (("mr",) if args.mr else ()) + (("ct_low_dose",) if args.low_dose else ())
             + (("ct_lesions", "mr_lesions", "lesion_mask") if args.lesions else ()))
    paths = {name: folder / f"{name}.{args.format}" for name in names}
    note = {PHANTOM_KEY: f"seed {args.seed}"}
    progress = TerminalProgress(f"phantom (seed {args.seed})")
    with OutputSet(paths.values(), args.overwrite) as outputs:
        progress(0.0, "drawing the anatomy")
        phantom = generate_phantom(args.seed, tuple(args.size), tuple(args.spacing), args.supersample)
        volumes = {"ct": phantom.ct, "labels": phantom.labels, "body": phantom.body}
        if args.mr:
            progress(0.4, "rendering MR")
            volumes["mr"] = render_mr(phantom)
        if args.low_dose:
            progress(0.55, "simulating low dose")
            volumes["ct_low_dose"] = low_dose_ct(phantom.ct, seed=args.seed)
        if args.lesions:
            progress(0.7, "inserting lesions")
            cases = lesions_in(phantom, ("ct", "mr"))
            volumes |= {f"{modality}_lesions": case.image for modality, case in cases.items()}
            volumes["lesion_mask"] = cases["ct"].mask
        progress(0.9, "writing")
        for name, volume in volumes.items():
            write_image_file(volume, outputs.staged(paths[name]), note, file_description(note))
        progress(1.0, "done")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.against_reference import evaluate_volumes

    synthetic, reference = read_volume(args.synthetic), read_volume(args.reference)
    mask = read_volume(args.mask) if args.mask else None
    print("computing MAE, PSNR and SSIM in the body …", file=sys.stderr, flush=True)
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
    print("mean HU, synthetic / phantom: " + ", ".join(f"{name} {hu['synthetic']:.0f} / {hu['phantom']:.0f}"
                                                         for name, hu in metrics["mean_hu"].items()))
    return 0


COMMANDS = {"demo": cmd_demo, "batch": cmd_batch, "models": cmd_models, "phantom": cmd_phantom,
            "evaluate": cmd_evaluate, **DATASET_COMMANDS}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    already_written = len(written_paths())
    try:
        with termination_as_interrupt():
            status = COMMANDS.get(args.command, cmd_task)(args)
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

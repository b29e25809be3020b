"""Command line for synthetic datasets: ``generate`` (varied label maps → synthetic CT, nnU-Net layout),
``copy-check`` (each generated image against the real images) and ``reading-score`` (a blinded reading's result)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .command_options import add_model_options, chosen_model, positive_float, positive_int
from .core.errors import GANSynthesisError
from .core.progress import TerminalProgress
from .tasks.synthesis.task import add_contrast_option


def lesion_option(text: str) -> tuple[int, int | None]:
    """An argparse type: VALUE or VALUE@HOST (label values)."""
    value, _, host = text.partition("@")
    try:
        return int(value), (int(host) if host else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not VALUE or VALUE@HOST (label values, e.g. 9@3)") from None


def add_dataset_commands(commands: argparse._SubParsersAction) -> None:
    """The dataset subcommands."""
    generate = commands.add_parser(
        "generate", help="make a synthetic training dataset (nnU-Net layout) from varied label maps",
        description="Make N cases, each a randomly varied label map and its synthetic CT, as an nnU-Net raw dataset "
                    "(imagesTr, labelsTr, dataset.json) with a manifest per case. Reruns with the same seed give the "
                    "same dataset; a stopped run resumes.")
    source = generate.add_mutually_exclusive_group(required=True)
    source.add_argument("--input-dir", type=Path, help="folder of label maps (image files or DICOM folders)")
    source.add_argument("--phantoms", action="store_true", help="draw a phantom per case (in the model's labels)")
    generate.add_argument("--output-dir", type=Path, required=True,
                          help="dataset folder (created; resumed if it holds a dataset made with the same settings)")
    generate.add_argument("--count", type=positive_int, required=True, help="number of cases")
    generate.add_argument("--seed", type=int, default=0, help="random seed of the variations (default 0)")
    add_model_options(generate)
    generate.add_argument("--labels", help="your label values' names, as for synthesize: 'left ventricle=1,…'")
    add_contrast_option(generate)
    generate.add_argument("--deformation-mm", type=float, default=6.0, help="largest smooth displacement (default 6)")
    generate.add_argument("--scaling", type=float, default=0.08, help="zoom within 1 ± this per axis (default 0.08)")
    generate.add_argument("--structure-change-mm", type=float, default=3.0,
                          help="one structure per case grows or shrinks by up to this (default 3; 0: off)")
    generate.add_argument("--lesion", type=lesion_option, metavar="VALUE[@HOST]",
                          help="move the lesion labelled VALUE; where a case has none, add one inside label HOST")
    generate.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    check = commands.add_parser("copy-check", help="flag generated images too close to a real image",
                                description="Compare each generated image with the real references (body-aligned "
                                            "slices, MAE and SSIM), flag near-copies, and write copy_check/ (report, "
                                            "CSV, histogram) into the dataset.")
    check.add_argument("--dataset", type=Path, required=True, help="a dataset made by generate")
    check.add_argument("--references", type=Path, nargs="+", required=True,
                       help="real CT images or folders of them (the scans behind the label maps, training data)")
    check.add_argument("--threshold-hu", type=positive_float, help="flag below this distance (default: half the "
                                                                   "smallest distance between two references)")
    check.add_argument("--drop", action="store_true", help="reject flagged cases (moved to rejected/, out of "
                                                           "dataset.json)")

    score = commands.add_parser("reading-score", help="score a blinded reading session (accuracy, binomial test)")
    score.add_argument("--session", type=Path, required=True, help="the reading session file (JSON)")
    score.add_argument("--csv", type=Path, help="also write the items and the score as CSV")


def cmd_generate(args: argparse.Namespace) -> int:
    from .anatomy.label_mapping import parse_label_mapping
    from .datasets.generate import GenerationSettings, folder_sources, generate_dataset, phantom_sources
    from .datasets.label_variation import VariationSettings
    from .engine.inference import InferenceOptions
    from .tasks.catalogue import get_task

    task = get_task("synthesize")
    bundle = chosen_model(args, task)
    lesion_label, lesion_host = args.lesion or (None, None)
    variation = VariationSettings(args.deformation_mm, scaling=args.scaling,
                                  structure_change_mm=args.structure_change_mm, lesion_label=lesion_label,
                                  lesion_host=lesion_host)
    settings = GenerationSettings(args.count, args.seed, variation,
                                  parse_label_mapping(args.labels) if args.labels else {})
    sources = phantom_sources(bundle, args.count) if args.phantoms else folder_sources(args.input_dir)
    progress = None if args.quiet else TerminalProgress(f"generate ({bundle.name})")
    made = generate_dataset(sources, args.output_dir, bundle, settings,
                            InferenceOptions(device=args.device, batch_size=args.batch_size),
                            task.inputs_from_options(args, bundle), progress,
                            [args.input_dir] if args.input_dir else [])
    print(f"made {len(made)} case(s) in {args.output_dir} ({args.count - len(made)} were already there): "
          f"imagesTr/, labelsTr/, dataset.json, cases/*.json")
    return 0


def cmd_copy_check(args: argparse.Namespace) -> int:
    from .datasets.copy_check import check_copies

    report = check_copies(args.dataset, args.references, args.threshold_hu, args.drop,
                          TerminalProgress("copy check"))
    print(f"threshold {report['threshold_hu']} HU; {len(report['flagged'])} of {len(report['cases'])} case(s) "
          f"flagged{': ' + ', '.join(report['flagged']) if report['flagged'] else ''}"
          + (f"; dropped {len(report['dropped'])}" if report["dropped"] else ""))
    print(f"report: {args.dataset / 'copy_check' / 'report.md'}")
    return 0


def cmd_reading_score(args: argparse.Namespace) -> int:
    from .datasets.blinded_reading import ReadingSession

    if not args.session.exists():
        raise GANSynthesisError(f"Reading session {args.session} not found.")
    session = ReadingSession.load(args.session)
    for measure, value in session.score().rows():
        print(f"{measure}: {value}")
    if args.csv:
        session.write_csv(args.csv)
        print(f"wrote {args.csv}")
    return 0


DATASET_COMMANDS = {"generate": cmd_generate, "copy-check": cmd_copy_check, "reading-score": cmd_reading_score}

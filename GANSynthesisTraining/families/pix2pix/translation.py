"""Train a paired image → CT translation model (pix2pix), evaluate it beside plain baselines, export a bundle.

Examples:
  python -m GANSynthesisTraining translation --phantoms 40 --source mr --run-dir runs/mr2ct --export Resources/Models/mr-to-ct-phantom
  python -m GANSynthesisTraining translation --phantoms 30 --source low-dose-ct --run-dir runs/ldct --name lowdose-ct-phantom
  python -m GANSynthesisTraining translation --synthrad /data/SynthRAD2023/Task1 --source mr --device cuda --run-dir runs/synthrad
  python -m GANSynthesisTraining translation --pairs-csv pairs.csv --source mr ...    # columns: source,target[,mask,id]
  python -m GANSynthesisTraining translation --pairs-folder pairs/ --source mr ...    # pairs/{source,target[,mask]}/<id>.nii.gz
"""

from __future__ import annotations

import argparse

from GANSynthesisLib.models.manifest import InputSpec, Manifest
from GANSynthesisTraining.bundles.manifest_parts import axial_grid, ct_output
from GANSynthesisTraining.bundles.training_section import training_summary
from GANSynthesisTraining.command_line.arguments import (add_config_arguments, add_data_arguments, add_run_arguments,
                                                         add_window_argument, config_from_arguments)
from GANSynthesisTraining.command_line.main import command_main
from GANSynthesisTraining.data.input_statistics import input_statistics
from GANSynthesisTraining.data.modalities import TRANSLATION_SOURCES
from GANSynthesisTraining.data.phantom_seeds import held_out_phantoms_text, phantom_grid_text, phantom_splits
from GANSynthesisTraining.data.slice_banks import NormalisedImage
from GANSynthesisTraining.data.splits import dataset_split, write_split
from GANSynthesisTraining.evaluation.baselines import GaussianDenoiser, IntensityMapping, UnchangedInput
from GANSynthesisTraining.evaluation.held_out import evaluate_and_export, image_predictor
from GANSynthesisTraining.families.pix2pix.model import Pix2PixConfig, train_pix2pix


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Data (phantoms, SynthRAD2023, pairs), input modality, run folder, window and pix2pix settings."""
    add_data_arguments(parser, ["--synthrad", "--pairs-csv", "--pairs-folder"],
                       phantoms="N generated phantoms (seeds 0..N-1)")
    parser.add_argument("--source", choices=TRANSLATION_SOURCES, required=True, help="input modality")
    add_run_arguments(parser, "")
    add_window_argument(parser)
    add_config_arguments(parser, Pix2PixConfig)


def training_cases(args: argparse.Namespace, modality: str, seed: int) -> tuple[list, list, list, str, str]:
    """(train, validation, test) cases and what the model card says of the training and the test data."""
    if args.phantoms:
        print(f"generating {args.phantoms} + {args.held_out} phantoms ({args.source}) …", flush=True)
        data = (f"{args.phantoms} procedural thorax phantoms rendered as {modality} and as CT "
                f"(GANSynthesisLib.phantoms.thorax and .modalities, seeds 0–{args.phantoms - 1}, "
                f"{phantom_grid_text(args)}); no patient data")
        return *phantom_splits(args, args.source), data, f"held-out phantoms, {held_out_phantoms_text(args)}"
    from GANSynthesisTraining.data.volume_files import (csv_cases, folder_cases,  # reads files (SimpleITK)
                                                        synthrad_cases)

    if args.synthrad:
        cases = synthrad_cases(args.synthrad, args.source)
    elif args.pairs_folder:
        cases = folder_cases(args.pairs_folder, "source", "target")
    else:
        cases = csv_cases(args.pairs_csv, "source", "target")
    return dataset_split(cases, args.held_out, args.validation, seed,
                         args.synthrad or args.pairs_folder or args.pairs_csv)


def run(args: argparse.Namespace) -> int:
    """Train, evaluate on the held-out cases beside plain baselines, export if asked."""
    modality, normalisation, title, default_name = TRANSLATION_SOURCES[args.source]
    args.name = args.name or default_name
    config = config_from_arguments(Pix2PixConfig, args)
    train, validation, test, data, test_data = training_cases(args, modality, config.seed)
    write_split(args.run_dir, train, validation, test)
    output_window = tuple(args.window)
    trainer = train_pix2pix(args, config, train, validation, test, NormalisedImage(normalisation), output_window,
                            labels=False)
    if trainer is None:
        return 0
    predict = image_predictor(trainer.export_generator.cpu().eval(), args.spacing, normalisation, output_window)
    baselines = ([IntensityMapping(train, normalisation)] if normalisation.type == "percentile"
                 else [UnchangedInput(), GaussianDenoiser(train)])
    manifest = Manifest(
        name=args.name, version="1.0.0", task="translate", title=title, architecture={},
        description=f"pix2pix ({config.generator} generator, conditional PatchGAN) that translates {modality} "
                    "into CT, slice by slice (axial), trained on registered pairs.",
        input=InputSpec(kind="image", modality=modality, normalisation=normalisation,
                        statistics=input_statistics([c.source for c in train], normalisation, data)),
        output=ct_output(output_window), grid=axial_grid(args.spacing, args.canvas),
        training=training_summary(config, data, args.training_note) | {"lambda_l1": config.lambda_l1, "paired": True},
        limits=("Trained on procedural phantoms only: real images look different and the model has never seen "
                "them; it warns when an input's intensities are far from its training data.",
                "Axial slices at 3 mm in-plane; finer detail is smoothed away.",
                "Research use only, not for diagnosis or treatment planning."))
    evaluate_and_export(args, trainer, test, predict, baselines, manifest, test_data)
    return 0


main = command_main("translation")

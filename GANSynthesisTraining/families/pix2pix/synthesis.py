"""Train a label-map → CT pix2pix model, evaluate it on held-out cases and export a model bundle.

Examples:
  python -m GANSynthesisTraining synthesis --phantoms 40 --steps 3000 --run-dir runs/demo --export Resources/Models/mmwhs-ct-phantom
  python -m GANSynthesisTraining synthesis --mmwhs /data/MM-WHS/ct_train --steps 100000 --device cuda --run-dir runs/mmwhs
"""

from __future__ import annotations

import argparse

import numpy as np

from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS
from GANSynthesisLib.engine.inference import InferenceOptions, run_translator
from GANSynthesisLib.models.manifest import InputSpec, Manifest
from GANSynthesisLib.tasks.synthesis.labels_to_ct import LabelToImageTranslator
from GANSynthesisTraining.bundles.manifest_parts import axial_grid, ct_output
from GANSynthesisTraining.bundles.training_section import training_summary
from GANSynthesisTraining.command_line.arguments import (add_config_arguments, add_data_arguments, add_run_arguments,
                                                         add_window_argument, config_from_arguments)
from GANSynthesisTraining.command_line.main import command_main
from GANSynthesisTraining.data.phantom_seeds import held_out_phantoms_text, phantom_grid_text, phantom_splits
from GANSynthesisTraining.data.slice_banks import OneHotLabels
from GANSynthesisTraining.data.splits import dataset_split, write_split
from GANSynthesisTraining.evaluation.baselines import LabelMeanHU
from GANSynthesisTraining.evaluation.held_out import evaluate_and_export
from GANSynthesisTraining.families.pix2pix.model import Pix2PixConfig, train_pix2pix


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Data (phantoms, MM-WHS, pairs), run folder, window and pix2pix settings."""
    add_data_arguments(parser, ["--mmwhs", "--pairs-csv", "--pairs-folder"], columns=("label", "image"),
                       phantoms="train on N generated phantoms (seeds 0..N-1)")
    add_run_arguments(parser, "mmwhs-ct-phantom")
    add_window_argument(parser, "HU window mapped to [-1, 1]")
    add_config_arguments(parser, Pix2PixConfig)


def training_cases(args: argparse.Namespace, seed: int) -> tuple[list, list, list, str, str]:
    """(train, validation, test) cases and what the model card says of the training and the test data."""
    if args.phantoms:
        data = (f"{args.phantoms} procedural thorax phantoms (GANSynthesisLib.phantoms.thorax, "
                f"seeds 0–{args.phantoms - 1}, {phantom_grid_text(args)}); no patient data")
        return *phantom_splits(args), data, f"held-out phantoms, {held_out_phantoms_text(args)}"
    from GANSynthesisTraining.data.volume_files import csv_cases, folder_cases, mmwhs_cases  # reads files (SimpleITK)

    if args.mmwhs:
        cases = mmwhs_cases(args.mmwhs)
    elif args.pairs_folder:
        cases = folder_cases(args.pairs_folder, "label", "image", True)
    else:
        cases = csv_cases(args.pairs_csv, "label", "image", True)
    return dataset_split(cases, args.held_out, args.validation, seed, args.mmwhs or args.pairs_folder or args.pairs_csv)


def run(args: argparse.Namespace) -> int:
    """Train, evaluate on the held-out cases beside the per-label mean HU, export if asked."""
    config = config_from_arguments(Pix2PixConfig, args)
    label_values = list(MMWHS_LABELS.values())
    train, validation, test, data, test_data = training_cases(args, config.seed)
    write_split(args.run_dir, train, validation, test)
    window = tuple(args.window)
    trainer = train_pix2pix(args, config, train, validation, test, OneHotLabels(label_values), window, labels=True)
    if trainer is None:
        return 0

    generator = trainer.export_generator.cpu().eval()
    translator = LabelToImageTranslator(generator, label_values, (args.spacing, args.spacing),
                                        generator.size_multiple, window)

    def predict(case) -> np.ndarray:
        return run_translator(translator, case.source, InferenceOptions(device="cpu")).array

    manifest = Manifest(
        name=args.name, version="1.0.0", task="synthesize", default=True, architecture={},
        title="Cardiac CT from MM-WHS labels (phantom-trained demo)",
        description="pix2pix (U-Net generator, conditional PatchGAN) that turns a label map of the 7 MM-WHS "
                    "cardiac structures into a contrast-enhanced CT volume, slice by slice (axial).",
        input=InputSpec(kind="labelmap", encoding="one-hot (background + labels, in this order)",
                        labels=dict(MMWHS_LABELS)),
        output=ct_output(window, contrast="contrast-enhanced (arterial) blood pool"),
        grid=axial_grid(args.spacing, args.canvas),
        training=training_summary(config, data, args.training_note) | {"lambda_l1": config.lambda_l1},
        limits=("Trained on procedural phantoms only: real patient CT looks different and the model has "
                "never seen it.", "Only the 7 cardiac labels are given to the model: lungs, bones and the "
                "body outline are invented, not measured.", "Axial slices at 3 mm in-plane; finer detail is "
                "smoothed away.", "Research use only, not for diagnosis or treatment planning."))
    evaluate_and_export(args, trainer, test, predict, [LabelMeanHU(train, label_values)], manifest, test_data)
    return 0


main = command_main("synthesis")

"""Train a label-map → CT pix2pix model, evaluate it on held-out cases and export a model bundle.

Examples:
  python -m training.train_synthesis --phantoms 40 --steps 3000 --run-dir runs/demo --export Resources/Models/mmwhs-ct-phantom
  python -m training.train_synthesis --mmwhs /data/MM-WHS/ct_train --steps 100000 --device cuda --run-dir runs/mmwhs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS
from GANSynthesisLib.engine.inference import InferenceOptions, run_translator
from GANSynthesisLib.tasks.synthesis.labels_to_ct import LabelToImageTranslator

from .baselines import LabelMeanHU
from .datasets import phantom_cases
from .pix2pix import Pix2PixConfig
from .slices import OneHotLabels
from .trainer import add_config_arguments, config_from_arguments
from .workflow import (add_run_arguments, evaluate_and_export, held_out_phantoms_text, held_out_seeds,
                       phantom_grid_text, run_command, split_cases, train_pix2pix, training_summary,
                       validation_phantoms, write_split)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train_synthesis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--phantoms", type=int, metavar="N", help="train on N generated phantoms (seeds 0..N-1)")
    source.add_argument("--mmwhs", type=Path, metavar="DIR", help="MM-WHS folder of *_image.nii.gz / *_label.nii.gz")
    source.add_argument("--pairs-csv", type=Path, metavar="CSV", help="CSV with columns label,image[,mask,id]")
    source.add_argument("--pairs-folder", type=Path, metavar="DIR", help="folder with subfolders label/, image/ "
                        "[, mask/] of files with the same names")
    add_run_arguments(parser, "mmwhs-ct-phantom")
    parser.add_argument("--window", type=float, nargs=2, default=(-1024.0, 2000.0), metavar=("LOW", "HIGH"),
                        help="HU window mapped to [-1, 1]")
    add_config_arguments(parser, Pix2PixConfig)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = config_from_arguments(Pix2PixConfig, args)
    label_values = list(MMWHS_LABELS.values())
    args.run_dir.mkdir(parents=True, exist_ok=True)
    if args.phantoms:
        drawn = dict(size=tuple(args.phantom_size), supersample=args.phantom_supersample)
        train = phantom_cases(list(range(args.phantoms)), **drawn)
        test = phantom_cases(held_out_seeds(args.held_out), **drawn)
        validation = validation_phantoms(args.validation, args)
        data = (f"{args.phantoms} procedural thorax phantoms (GANSynthesisLib.phantoms.thorax, seeds 0–{args.phantoms - 1}, "
                f"{phantom_grid_text(args)}); no patient data")
        test_data = f"held-out phantoms, {held_out_phantoms_text(args)}"
    else:
        from .volume_files import csv_cases, folder_cases, mmwhs_cases  # reads files (SimpleITK)

        if args.mmwhs:
            cases = mmwhs_cases(args.mmwhs)
        elif args.pairs_folder:
            cases = folder_cases(args.pairs_folder, "label", "image", True)
        else:
            cases = csv_cases(args.pairs_csv, "label", "image", True)
        train, validation, test = split_cases(cases, args.held_out, args.validation, config.seed)
        origin = args.mmwhs or args.pairs_folder or args.pairs_csv
        data, test_data = f"{len(train)} cases from {origin}", f"{len(test)} held-out patients"
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

    manifest = {
        "name": args.name, "version": "1.0.0", "task": "synthesize", "default": True,
        "title": "Cardiac CT from MM-WHS labels (phantom-trained demo)",
        "description": "pix2pix (U-Net generator, conditional PatchGAN) that turns a label map of the 7 MM-WHS "
                       "cardiac structures into a contrast-enhanced CT volume, slice by slice (axial).",
        "input": {"kind": "labelmap", "encoding": "one-hot (background + labels, in this order)",
                  "labels": dict(MMWHS_LABELS)},
        "output": {"modality": "CT", "units": "HU", "contrast": "contrast-enhanced (arterial) blood pool",
                   "normalisation": {"type": "window", "low": window[0], "high": window[1], "range": [-1, 1]}},
        "grid": {"plane": "axial", "in_plane_spacing_mm": [args.spacing, args.spacing],
                 "in_plane_size": [args.canvas, args.canvas]},
        "training": training_summary(config, data, args.training_note) | {"lambda_l1": config.lambda_l1},
        "license": "Apache-2.0", "intended_use": "research, not for diagnosis",
        "limits": ["Trained on procedural phantoms only: real patient CT looks different and the model has "
                   "never seen it.", "Only the 7 cardiac labels are given to the model: lungs, bones and the "
                   "body outline are invented, not measured.", "Axial slices at 3 mm in-plane; finer detail is "
                   "smoothed away.", "Research use only, not for diagnosis or treatment planning."],
    }
    evaluate_and_export(args, trainer, test, predict, [LabelMeanHU(train, label_values)], manifest, test_data)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))

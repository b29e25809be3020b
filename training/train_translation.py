"""Train a paired image → CT translation model (pix2pix), evaluate it beside plain baselines, export a bundle.

Examples:
  python -m training.train_translation --phantoms 40 --source mr --run-dir runs/mr2ct --export Resources/Models/mr-to-ct-phantom
  python -m training.train_translation --phantoms 30 --source low-dose-ct --run-dir runs/ldct --name lowdose-ct-phantom
  python -m training.train_translation --synthrad /data/SynthRAD2023/Task1 --source mr --device cuda --run-dir runs/synthrad
  python -m training.train_translation --pairs-csv pairs.csv --source mr ...    # columns: source,target[,mask,id]
  python -m training.train_translation --pairs-folder pairs/ --source mr ...    # pairs/{source,target[,mask]}/<id>.nii.gz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from GANSynthesisLib.engine.input_checks import (axial_voxel_size, histogram_distance, intensity_histogram,
                                                 normalised_input)

from .baselines import GaussianDenoiser, IntensityMapping, UnchangedInput
from .datasets import phantom_cases
from .pix2pix import Pix2PixConfig
from .slices import NormalisedImage
from .trainer import add_config_arguments, config_from_arguments
from .workflow import (add_run_arguments, evaluate_and_export, held_out_phantoms_text, held_out_seeds, image_predictor,
                       phantom_grid_text, run_command, split_cases, train_pix2pix, training_summary,
                       validation_phantoms, write_split)

SOURCES = {  # --source → (modality in the manifest, input normalisation, title, default model name)
    "mr": ("MR (T1-weighted)", {"type": "percentile", "low_percentile": 0.5, "high_percentile": 99.5},
           "MR → CT (phantom-trained demo)", "mr-to-ct-phantom"),
    "low-dose-ct": ("CT (low dose)", {"type": "window", "low": -1024.0, "high": 2000.0},
                    "Low-dose → normal-dose CT (phantom-trained demo)", "lowdose-ct-phantom"),
    "cbct": ("CBCT", {"type": "window", "low": -1024.0, "high": 2000.0}, "CBCT → CT", "cbct-to-ct"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train_translation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--phantoms", type=int, metavar="N", help="N generated phantoms (seeds 0..N-1)")
    data.add_argument("--synthrad", type=Path, metavar="DIR", help="SynthRAD2023 folder: <region>/<id>/{mr|cbct,ct,mask}.nii.gz")
    data.add_argument("--pairs-csv", type=Path, metavar="CSV", help="CSV with columns source,target[,mask,id]")
    data.add_argument("--pairs-folder", type=Path, metavar="DIR", help="folder with subfolders source/, target/ "
                      "[, mask/] of files with the same names")
    parser.add_argument("--source", choices=SOURCES, required=True, help="input modality")
    add_run_arguments(parser, "")
    parser.add_argument("--window", type=float, nargs=2, default=(-1024.0, 2000.0), metavar=("LOW", "HIGH"),
                        help="output HU window mapped to [-1, 1]")
    add_config_arguments(parser, Pix2PixConfig)
    return parser.parse_args(argv)


def input_statistics(volumes: list, normalisation: dict, data: str) -> dict:
    """Mean foreground histogram of the training inputs, the distance beyond which inputs look unfamiliar, and
    their median voxel size (axial view)."""
    histograms = [intensity_histogram(normalised_input(v.array, normalisation)) for v in volumes]
    mean = np.mean(histograms, axis=0)
    spread = max(histogram_distance(h, mean) for h in histograms)
    sizes = [axial_voxel_size(v) for v in volumes]
    voxel_size = {axis: round(float(np.median([s[axis] for s in sizes])), 3) for axis in sizes[0]}
    return {"histogram": [round(float(v), 6) for v in mean], "warn_distance": round(max(0.1, 1.5 * spread), 3),
            "voxel_spacing_mm": voxel_size, "data": data}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    modality, normalisation, title, default_name = SOURCES[args.source]
    args.name = args.name or default_name
    config = config_from_arguments(Pix2PixConfig, args)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    if args.phantoms:
        drawn = dict(size=tuple(args.phantom_size), source=args.source, supersample=args.phantom_supersample)
        print(f"generating {args.phantoms} + {args.held_out} phantoms ({args.source}) …", flush=True)
        train = phantom_cases(list(range(args.phantoms)), **drawn)
        test = phantom_cases(held_out_seeds(args.held_out), **drawn)
        validation = validation_phantoms(args.validation, args, source=args.source)
        data = (f"{args.phantoms} procedural thorax phantoms rendered as {modality} and as CT (GANSynthesisLib.phantoms.thorax "
                f"and .modalities, seeds 0–{args.phantoms - 1}, {phantom_grid_text(args)}); no patient data")
        test_data = f"held-out phantoms, {held_out_phantoms_text(args)}"
    else:
        from .volume_files import csv_cases, folder_cases, synthrad_cases  # reads files (SimpleITK)

        if args.synthrad:
            cases = synthrad_cases(args.synthrad, args.source)
        elif args.pairs_folder:
            cases = folder_cases(args.pairs_folder, "source", "target")
        else:
            cases = csv_cases(args.pairs_csv, "source", "target")
        train, validation, test = split_cases(cases, args.held_out, args.validation, config.seed)
        origin = args.synthrad or args.pairs_folder or args.pairs_csv
        data, test_data = f"{len(train)} cases from {origin}", f"{len(test)} held-out patients"
    write_split(args.run_dir, train, validation, test)
    output_window = tuple(args.window)
    trainer = train_pix2pix(args, config, train, validation, test, NormalisedImage(normalisation), output_window,
                            labels=False)
    if trainer is None:
        return 0
    predict = image_predictor(trainer.export_generator.cpu().eval(), args.spacing, normalisation, output_window)
    baselines = ([IntensityMapping(train, normalisation)] if normalisation["type"] == "percentile"
                 else [UnchangedInput(), GaussianDenoiser(train)])
    manifest = {
        "name": args.name, "version": "1.0.0", "task": "translate", "title": title,
        "description": f"pix2pix ({config.generator} generator, conditional PatchGAN) that translates {modality} "
                       "into CT, slice by slice (axial), trained on registered pairs.",
        "input": {"kind": "image", "modality": modality, "normalisation": normalisation,
                  "statistics": input_statistics([c.source for c in train], normalisation, data)},
        "output": {"modality": "CT", "units": "HU",
                   "normalisation": {"type": "window", "low": output_window[0], "high": output_window[1],
                                     "range": [-1, 1]}},
        "grid": {"plane": "axial", "in_plane_spacing_mm": [args.spacing, args.spacing],
                 "in_plane_size": [args.canvas, args.canvas]},
        "training": training_summary(config, data, args.training_note) | {"lambda_l1": config.lambda_l1, "paired": True},
        "license": "Apache-2.0", "intended_use": "research, not for diagnosis",
        "limits": ["Trained on procedural phantoms only: real images look different and the model has never seen "
                   "them; it warns when an input's intensities are far from its training data.",
                   "Axial slices at 3 mm in-plane; finer detail is smoothed away.",
                   "Research use only, not for diagnosis or treatment planning."],
    }
    evaluate_and_export(args, trainer, test, predict, baselines, manifest, test_data)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))

"""Train an unpaired A → CT translation model (CycleGAN) and export its A → B generator as a bundle.

Examples:
  python -m training.train_cyclegan --domain-a mr_folder/ --domain-b ct_folder/ --source mr --run-dir runs/cycle
  python -m training.train_cyclegan --phantoms 20 --source mr --run-dir runs/cycle-phantoms --export models/mr-to-ct-cyclegan

With --phantoms, domain A (e.g. MR) comes from seeds 0..N-1 and domain B (CT) from other seeds in shuffled
order, so no slice has its partner; evaluation uses held-out phantoms, where the true CT is known.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch

from .baselines import IntensityMapping
from .cyclegan import CycleGANConfig, CycleGANTrainer
from .datasets import phantom_cases
from .slices import NormalisedImage, SliceBank, axial_slices
from .train_translation import SOURCES, input_statistics
from .trainer import add_config_arguments, config_from_arguments
from .workflow import (add_run_arguments, evaluate_and_export, held_out_phantoms_text, held_out_seeds, image_predictor,
                       phantom_grid_text, run_command, run_training, snapshot_writer, training_summary,
                       validation_error, validation_phantoms)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train_cyclegan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phantoms", type=int, metavar="N", help="N phantoms per domain, unpaired (shuffled seeds)")
    parser.add_argument("--domain-a", type=Path, metavar="DIR", help="folder of source-modality volumes")
    parser.add_argument("--domain-b", type=Path, metavar="DIR", help="folder of CT volumes (not the same patients needed)")
    parser.add_argument("--source", choices=SOURCES, default="mr", help="modality of domain A")
    add_run_arguments(parser, "")
    parser.add_argument("--window", type=float, nargs=2, default=(-1024.0, 2000.0), metavar=("LOW", "HIGH"))
    add_config_arguments(parser, CycleGANConfig)
    args = parser.parse_args(argv)
    if not args.phantoms and not (args.domain_a and args.domain_b):
        parser.error("give --phantoms N, or both --domain-a and --domain-b")
    if args.validation and not args.phantoms:
        parser.error("--validation needs paired cases to score against, which unpaired folders lack; "
                     "use it with --phantoms")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    modality, normalisation, _, default_name = SOURCES[args.source]
    args.name = args.name or default_name.replace("phantom", "cyclegan")
    config = config_from_arguments(CycleGANConfig, args)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    window = tuple(args.window)
    ct_window = {"type": "window", "low": window[0], "high": window[1]}
    drawn = dict(size=tuple(args.phantom_size), supersample=args.phantom_supersample)
    test = phantom_cases(held_out_seeds(args.held_out), source=args.source, **drawn) if args.held_out else []
    if args.phantoms:
        a_cases = phantom_cases(list(range(args.phantoms)), source=args.source, **drawn)
        b_seeds = list(range(args.phantoms, 2 * args.phantoms))
        random.Random(config.seed).shuffle(b_seeds)
        a_volumes = [c.source for c in a_cases]
        b_volumes = [c.target for c in phantom_cases(b_seeds, **drawn)]
        data = (f"unpaired: {modality} of phantoms 0–{args.phantoms - 1} and CT of other phantoms (seeds "
                f"{args.phantoms}–{2 * args.phantoms - 1}, shuffled; {phantom_grid_text(args)}); no patient data")
    else:
        from .volume_files import folder_volumes  # reads files (SimpleITK); phantom runs need neither

        a_volumes, b_volumes = folder_volumes(args.domain_a), folder_volumes(args.domain_b)
        a_cases = []
        data = f"unpaired: {len(a_volumes)} volumes from {args.domain_a}, {len(b_volumes)} from {args.domain_b}"
    encoder_a, encoder_b = NormalisedImage(normalisation), NormalisedImage(ct_window)
    domain_a = torch.cat([axial_slices(v, encoder_a, args.spacing, args.canvas) for v in a_volumes])
    domain_b = torch.cat([axial_slices(v, encoder_b, args.spacing, args.canvas) for v in b_volumes])
    print(f"{len(domain_a)} slices in A, {len(domain_b)} in B", flush=True)
    snapshot = None
    if test:
        snapshot = snapshot_writer(SliceBank.from_cases(test[:2], encoder_a, args.spacing, args.canvas, window),
                                   args.run_dir, labels=False)
    trainer = CycleGANTrainer(config, domain_a, domain_b, args.run_dir, snapshot)
    if args.validation:  # paired phantoms: the A → B generator against the true CT
        validation = validation_phantoms(args.validation, args, source=args.source)
        trainer.validate = validation_error(SliceBank.from_cases(validation, encoder_a, args.spacing, args.canvas,
                                                                 window), window)
    if not run_training(trainer, args.resume) or not test:
        return 0
    predict = image_predictor(trainer.export_generator.cpu().eval(), args.spacing, normalisation, window)

    baselines = [IntensityMapping(a_cases, normalisation)] if a_cases and normalisation["type"] == "percentile" else []
    manifest = {
        "name": args.name, "version": "1.0.0", "task": "translate", "title": f"{modality} → CT (unpaired CycleGAN)",
        "description": f"CycleGAN ({config.generator} generators, PatchGAN discriminators, cycle λ {config.lambda_cycle:g}, "
                       f"identity {config.lambda_identity:g}, image pool {config.pool_size}) trained without pairs.",
        "input": {"kind": "image", "modality": modality, "normalisation": normalisation,
                  "statistics": input_statistics(a_volumes, normalisation, data)},
        "output": {"modality": "CT", "units": "HU", "normalisation": ct_window | {"range": [-1, 1]}},
        "grid": {"plane": "axial", "in_plane_spacing_mm": [args.spacing, args.spacing],
                 "in_plane_size": [args.canvas, args.canvas]},
        "training": training_summary(config, data, args.training_note) | {"paired": False, "lambda_cycle": config.lambda_cycle,
                                                      "lambda_identity": config.lambda_identity},
        "license": "Apache-2.0", "intended_use": "research, not for diagnosis",
        "limits": ["Unpaired training: nothing ties each output voxel to the truth, so check the anatomy.",
                   "Research use only, not for diagnosis or treatment planning."],
    }
    evaluate_and_export(args, trainer, test, predict, baselines, manifest,
                        f"held-out paired phantoms, {held_out_phantoms_text(args)} "
                        "(baseline fitted on the domain-A phantoms' own CT)")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))

"""Train an unpaired A → CT translation model (CycleGAN) and export its A → B generator as a bundle.

Examples:
  python -m GANSynthesisTraining cyclegan --domain-a mr_folder/ --domain-b ct_folder/ --source mr --run-dir runs/cycle
  python -m GANSynthesisTraining cyclegan --phantoms 20 --source mr --run-dir runs/cycle-phantoms --export models/mr-to-ct-cyclegan

With --phantoms, domain A (e.g. MR) comes from seeds 0..N-1 and domain B (CT) from other seeds in shuffled
order, so no slice has its partner; evaluation uses held-out phantoms, where the true CT is known.
"""

from __future__ import annotations

import argparse
import random

import torch

from GANSynthesisLib.models.manifest import InputSpec, Manifest, Normalisation
from GANSynthesisTraining.bundles.manifest_parts import axial_grid, ct_output
from GANSynthesisTraining.bundles.training_section import training_summary
from GANSynthesisTraining.command_line.arguments import (add_config_arguments, add_data_arguments, add_run_arguments,
                                                         add_window_argument, config_from_arguments)
from GANSynthesisTraining.command_line.main import command_main
from GANSynthesisTraining.data.input_statistics import input_statistics
from GANSynthesisTraining.data.modalities import TRANSLATION_SOURCES
from GANSynthesisTraining.data.paired_cases import phantom_cases
from GANSynthesisTraining.data.phantom_seeds import (held_out_phantoms_text, held_out_seeds, phantom_grid_text,
                                                     validation_phantoms)
from GANSynthesisTraining.data.slice_banks import NormalisedImage, SliceBank, axial_slices
from GANSynthesisTraining.evaluation.baselines import IntensityMapping
from GANSynthesisTraining.evaluation.held_out import evaluate_and_export, image_predictor
from GANSynthesisTraining.families.cyclegan.model import CycleGANConfig, CycleGANTrainer
from GANSynthesisTraining.loop.monitoring import snapshot_writer, validation_error
from GANSynthesisTraining.loop.trainer import run_training


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Data (phantoms or two unpaired folders), domain-A modality, run folder, window and CycleGAN settings."""
    add_data_arguments(parser, ["--domain-a", "--domain-b"], choose_one=False,
                       phantoms="N phantoms per domain, unpaired (shuffled seeds)")
    parser.add_argument("--source", choices=TRANSLATION_SOURCES, default="mr", help="modality of domain A")
    add_run_arguments(parser, "")
    add_window_argument(parser, "CT HU window of domain B mapped to [-1, 1]")
    add_config_arguments(parser, CycleGANConfig)


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Phantoms, or both folders; validation only with phantoms (unpaired folders have no truth to score)."""
    if not args.phantoms and not (args.domain_a and args.domain_b):
        parser.error("give --phantoms N, or both --domain-a and --domain-b")
    if args.validation and not args.phantoms:
        parser.error("--validation needs paired cases to score against, which unpaired folders lack; "
                     "use it with --phantoms")


def run(args: argparse.Namespace) -> int:
    """Train both directions, evaluate the A → B generator on held-out paired phantoms, export if asked."""
    modality, normalisation, _, default_name = TRANSLATION_SOURCES[args.source]
    args.name = args.name or default_name.replace("phantom", "cyclegan")
    config = config_from_arguments(CycleGANConfig, args)
    window = tuple(args.window)
    ct_window = Normalisation("window", low=window[0], high=window[1])
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
        from GANSynthesisTraining.data.volume_files import folder_volumes  # reads files (SimpleITK)

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

    baselines = [IntensityMapping(a_cases, normalisation)] if a_cases and normalisation.type == "percentile" else []
    manifest = Manifest(
        name=args.name, version="1.0.0", task="translate", title=f"{modality} → CT (unpaired CycleGAN)",
        architecture={},
        description=f"CycleGAN ({config.generator} generators, PatchGAN discriminators, cycle λ "
                    f"{config.lambda_cycle:g}, identity {config.lambda_identity:g}, image pool {config.pool_size}) "
                    "trained without pairs.",
        input=InputSpec(kind="image", modality=modality, normalisation=normalisation,
                        statistics=input_statistics(a_volumes, normalisation, data)),
        output=ct_output(window), grid=axial_grid(args.spacing, args.canvas),
        training=training_summary(config, data, args.training_note) | {
            "paired": False, "lambda_cycle": config.lambda_cycle, "lambda_identity": config.lambda_identity},
        limits=("Unpaired training: nothing ties each output voxel to the truth, so check the anatomy.",
                "Research use only, not for diagnosis or treatment planning."))
    evaluate_and_export(args, trainer, test, predict, baselines, manifest,
                        f"held-out paired phantoms, {held_out_phantoms_text(args)} "
                        "(baseline fitted on the domain-A phantoms' own CT)")
    return 0


main = command_main("cyclegan")

"""Train the inpainting anomaly model on normal anatomy, evaluate it on held-out lesion phantoms beside the
intensity-threshold baseline, and export a bundle.

A conditional GAN (pix2pix: U-Net + PatchGAN, L1 + adversarial) learns to fill the blanked centre of a tile
of normal anatomy from its surroundings; the rest of the tile is passed through, so both losses judge the
fill. At inference every small square of a slice is filled from its context (with ``--grid-shifts`` n, from
n × n shifted grids of squares, keeping each pixel's best fill); what differs from that fill is what the
surroundings cannot explain. With ``--scale-steps`` a second network then learns, with the generator
frozen, how large the fill's error usually is at each pixel (Laplace negative log-likelihood), and the heatmap
reads residuals in those units: bone edges and the body outline, where fills are often off, stop outshining a
faint lesion inside homogeneous tissue.

Examples:
  python -m GANSynthesisTraining inpainting --phantoms 40 --modality ct --scale-steps 6000 --run-dir runs/anomaly-ct --export Resources/Models/anomaly-ct-phantom
  python -m GANSynthesisTraining inpainting --phantoms 40 --modality mr --run-dir runs/anomaly-mr --export Resources/Models/anomaly-mr-phantom
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import replace

from GANSynthesisLib.models.manifest import Normalisation
from GANSynthesisTraining.command_line.anomaly_run import train_or_take_networks_then_export
from GANSynthesisTraining.command_line.arguments import (add_anomaly_arguments, add_config_arguments,
                                                         config_from_arguments)
from GANSynthesisTraining.command_line.main import command_main
from GANSynthesisTraining.data.modalities import ANOMALY_MODALITIES
from GANSynthesisTraining.data.normal_anatomy import normal_tile_bank
from GANSynthesisTraining.families.inpainting.model import (ErrorScaleTrainer, InpaintingBank, InpaintingConfig,
                                                            InpaintingTrainer)
from GANSynthesisTraining.loop import distributed
from GANSynthesisTraining.loop.trainer import resume_and_train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Anomaly data, evaluation and run options, then inpainting GAN settings."""
    add_anomaly_arguments(parser)
    add_config_arguments(parser, InpaintingConfig)


def method_info(modality: str, config: InpaintingConfig) -> dict:
    """Title, description and anomaly settings of the manifest."""
    return {"title": f"{modality} anomaly heatmap, inpainting GAN (phantom-trained demo)",
            "description": f"Inpainting GAN (pix2pix U-Net + PatchGAN) trained on normal {modality} only: every "
                           f"{config.hole}×{config.hole}-pixel square of a slice is filled in from the "
                           f"{config.tile}×{config.tile} tile of context around it"
                           + (f" (the grid of squares laid {config.grid_shifts}×{config.grid_shifts} times, shifted, "
                              "each pixel keeping its best fill)" if config.grid_shifts > 1 else "")
                           + ("; a second network predicts how far off each fill usually is, and residuals are "
                              "read in units of that expected error." if config.scale_steps else "."),
            "settings": {"method": "inpainting", "tile": config.tile, "hole": config.hole,
                         "scale_steps": config.scale_steps, "grid_shifts": config.grid_shifts}}


def train_networks(args: argparse.Namespace, config: InpaintingConfig, normalisation: Normalisation) -> tuple[list, dict] | None:
    """The normal training volumes and the trained networks; None on ranks other than 0."""
    volumes, tiles = normal_tile_bank(args, normalisation, config.tile, config.device)
    bank = InpaintingBank(tiles, config.hole)
    trainer = InpaintingTrainer(config, bank, args.run_dir / "inpainting")
    resume_and_train(trainer, args.resume)
    trainer.settle_batch_norm()  # before the error-scale network learns from its fills
    networks = {"generator": trainer.export_generator}
    if config.scale_steps:
        scale_config = replace(config, steps=config.scale_steps, snapshot_steps=[])
        phase_two = ErrorScaleTrainer(scale_config, bank, copy.deepcopy(trainer.export_generator),
                                      args.run_dir / "error_scale")
        resume_and_train(phase_two, args.resume)
        config.scale_steps = scale_config.steps  # as trained (a time limit lowers it)
        networks["error_scale"] = phase_two.error_scale
    distributed.cleanup()  # evaluation and export happen on rank 0 alone
    return (volumes, networks) if trainer.is_main else None


def run(args: argparse.Namespace) -> int:
    """Train (or take --networks-from), calibrate, evaluate beside the intensity baseline, export if asked."""
    modality, normalisation = ANOMALY_MODALITIES[args.modality]
    args.name = args.name or f"anomaly-{args.modality}-phantom"
    config = config_from_arguments(InpaintingConfig, args)
    method = method_info(modality, config)

    def train() -> tuple[list, dict] | None:
        trained = train_networks(args, config, normalisation)
        method.update(method_info(modality, config))  # the steps as trained
        return trained

    return train_or_take_networks_then_export(args, config, method, train)


main = command_main("inpainting")

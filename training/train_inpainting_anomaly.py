"""Train the inpainting anomaly model on normal anatomy, evaluate it on held-out lesion phantoms beside the
intensity-threshold baseline, and export a bundle.

A conditional GAN (pix2pix: U-Net + PatchGAN, L1 + adversarial) learns to fill the blanked centre of a tile
of normal anatomy from its surroundings; the rest of the tile is passed through, so both losses judge the
fill. At inference every small square of a slice is filled from its context; what differs from that fill is
what the surroundings cannot explain.

Examples:
  python -m training.train_inpainting_anomaly --phantoms 40 --modality ct --run-dir runs/anomaly-ct --export Resources/Models/anomaly-ct-phantom
  python -m training.train_inpainting_anomaly --phantoms 40 --modality mr --run-dir runs/anomaly-mr --export Resources/Models/anomaly-mr-phantom
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import torch

from GANSynthesisLib.architectures import network_spec
from GANSynthesisLib.networks import InpaintingGenerator

from . import distributed
from .anomaly import InpaintingBank
from .anomaly_evaluation import evaluate_and_export_anomaly
from .pix2pix import Pix2PixConfig, Pix2PixTrainer
from .train_anomaly import MODALITIES, add_anomaly_run_arguments, normal_tile_bank, training_data
from .trainer import add_config_arguments, config_from_arguments
from .workflow import resume_and_train


@dataclass
class InpaintingConfig(Pix2PixConfig):
    """Inpainting GAN: pix2pix on tile × tile tiles whose central hole × hole square is blanked."""

    tile: int = 64
    hole: int = 16
    lambda_l1: float = 1600.0  # pix2pix's 100 per pixel of the hole, which is 1/16 of the tile the L1 averages over
    batch_size: int = 32
    g_depth: int = 6
    g_base_width: int = 16
    g_max_width: int = 128
    d_base_width: int = 16
    g_dropout: float = 0.0  # the fill should be the most likely one, not a random draw


class InpaintingTrainer(Pix2PixTrainer):
    """pix2pix whose generator draws the hole only."""

    def build_generator(self, channels: int) -> torch.nn.Module:
        return InpaintingGenerator(network_spec(super().build_generator(channels)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train_inpainting_anomaly", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_anomaly_run_arguments(parser)
    add_config_arguments(parser, InpaintingConfig)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    modality, normalisation = MODALITIES[args.modality]
    args.name = args.name or f"anomaly-{args.modality}-phantom"
    config = config_from_arguments(InpaintingConfig, args)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    volumes, tiles = normal_tile_bank(args, normalisation, config.tile, config.device)
    trainer = InpaintingTrainer(config, InpaintingBank(tiles, config.hole), args.run_dir / "inpainting")
    resume_and_train(trainer, args.resume)
    distributed.cleanup()  # evaluation and export happen on rank 0 alone
    if not trainer.is_main:
        return 0
    method = {"title": f"{modality} anomaly heatmap, inpainting GAN (phantom-trained demo)",
              "description": f"Inpainting GAN (pix2pix U-Net + PatchGAN) trained on normal {modality} only: every "
                             f"{config.hole}×{config.hole}-pixel square of a slice is filled in from the "
                             f"{config.tile}×{config.tile} tile of context around it.",
              "settings": {"method": "inpainting", "tile": config.tile, "hole": config.hole}}
    evaluate_and_export_anomaly(args, config, volumes, {"generator": trainer.export_generator},
                                dict(modality=modality, normalisation=normalisation) | method,
                                training_data(args, modality, volumes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

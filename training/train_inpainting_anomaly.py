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
  python -m training.train_inpainting_anomaly --phantoms 40 --modality ct --scale-steps 6000 --run-dir runs/anomaly-ct --export Resources/Models/anomaly-ct-phantom
  python -m training.train_inpainting_anomaly --phantoms 40 --modality mr --run-dir runs/anomaly-mr --export Resources/Models/anomaly-mr-phantom
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from GANSynthesisLib.models.networks import ErrorScaleNetwork, InpaintingGenerator, network_spec

from . import distributed
from .anomaly import InpaintingBank
from .pix2pix import Pix2PixConfig, Pix2PixTrainer, build_generator
from .train_anomaly import MODALITIES, add_anomaly_run_arguments, normal_tile_bank, train_or_take_networks_then_export
from .trainer import GanTrainer, adam, add_config_arguments, config_from_arguments
from .workflow import resume_and_train, run_command


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
    scale_steps: int = 0  # steps of the error-scale network after the GAN (0: heatmap in intensity units)
    grid_shifts: int = 1  # inference lays the grid of squares n × n times, shifted by hole / n


class InpaintingTrainer(Pix2PixTrainer):
    """pix2pix whose generator draws the hole only."""

    def build_generator(self, channels: int) -> torch.nn.Module:
        return InpaintingGenerator(network_spec(super().build_generator(channels)))


class ErrorScaleTrainer(GanTrainer):
    """Phase 2: with the generator frozen, a U-Net like it learns the Laplace scale σ̂ of the fill's error at
    every hole pixel; loss = mean over the hole of |x − fill| / σ̂ + log σ̂."""

    loss_names = ("loss_nll", "mean_abs_error")

    def __init__(self, config: InpaintingConfig, bank: InpaintingBank, generator: torch.nn.Module,
                 run_dir: Path) -> None:
        super().__init__(config, run_dir)
        self.bank = bank
        self.frozen_generator = self.to_device(generator).eval().requires_grad_(False)
        self.scale = self.to_device(ErrorScaleNetwork(network_spec(build_generator(config, bank.channels + 1))))
        self.opt_s = adam(self.scale.parameters(), config, config.lr_g, self.device)
        self.train_s = self.parallel(self.scale)

    @property
    def networks(self) -> dict:
        return {"error_scale": self.scale}

    @property
    def optimizers(self) -> dict:
        return {"opt_s": self.opt_s}

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.bank.sample(self.config.batch_size, self.sampler, self.augmentation)

    def scale_losses(self, inputs: torch.Tensor, tiles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            fill = self.frozen_generator(inputs)
            log_scale = self.train_s(torch.cat([inputs, fill], 1)).float()
        hole = inputs[:, 1:2]
        error = (tiles - fill.float()).abs()
        nll = ((error * torch.exp(-log_scale) + log_scale) * hole).sum() / hole.sum()
        return nll, torch.stack([nll, (error * hole).sum() / hole.sum()])

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.accumulated_update(self.train_s, self.opt_s, batch, self.scale_losses)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train_inpainting_anomaly", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_anomaly_run_arguments(parser)
    add_config_arguments(parser, InpaintingConfig)
    return parser.parse_args(argv)


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


def train_networks(args: argparse.Namespace, config: InpaintingConfig, normalisation: dict) -> tuple[list, dict] | None:
    """The normal training volumes and the trained networks; None on ranks other than 0."""
    volumes, tiles = normal_tile_bank(args, normalisation, config.tile, config.device)
    bank = InpaintingBank(tiles, config.hole)
    trainer = InpaintingTrainer(config, bank, args.run_dir / "inpainting")
    resume_and_train(trainer, args.resume)
    networks = {"generator": trainer.export_generator}
    if config.scale_steps:
        scale_config = replace(config, steps=config.scale_steps, snapshot_steps=[])
        phase_two = ErrorScaleTrainer(scale_config, bank, copy.deepcopy(trainer.export_generator),
                                      args.run_dir / "error_scale")
        resume_and_train(phase_two, args.resume)
        networks["error_scale"] = phase_two.scale
    distributed.cleanup()  # evaluation and export happen on rank 0 alone
    return (volumes, networks) if trainer.is_main else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    modality, normalisation = MODALITIES[args.modality]
    args.name = args.name or f"anomaly-{args.modality}-phantom"
    config = config_from_arguments(InpaintingConfig, args)
    method = method_info(modality, config)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    return train_or_take_networks_then_export(args, config, method,
                                              lambda: train_networks(args, config, normalisation))


if __name__ == "__main__":
    sys.exit(run_command(main))

"""Inpainting GAN: pix2pix on tiles whose central square is blanked (the generator draws the hole only), and the
error-scale network that learns, with the generator frozen, how far off each fill usually is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from GANSynthesisLib.models.networks import ErrorScaleNetwork, InpaintingGenerator, network_spec
from GANSynthesisLib.tasks.anomaly.detection import inpainting_input
from GANSynthesisTraining.data.augmentation import Augmentation
from GANSynthesisTraining.data.tile_banks import TileBank
from GANSynthesisTraining.families.pix2pix.model import Pix2PixConfig, Pix2PixTrainer, build_generator
from GANSynthesisTraining.loop.trainer import GanTrainer, adam


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

    HELP: ClassVar[dict[str, str]] = {
        "tile": "tile size (pixels) cut from the slices", "hole": "side of the blanked central square (pixels)",
        "scale_steps": "steps of the error-scale network after the GAN (0: heatmap in intensity units)",
        "grid_shifts": "inference lays the grid of squares n × n times, shifted by hole / n"}


class InpaintingBank:
    """Tiles of normal anatomy as inpainting pairs: (tile with its central hole blanked + hole mask, whole tile)."""

    channels = 2

    def __init__(self, tiles: TileBank, hole: int) -> None:
        self.tiles, self.hole = tiles, hole

    def to(self, device: torch.device) -> "InpaintingBank":
        return self  # the tile bank already delivers on its device

    def sample(self, batch_size: int, generator: torch.Generator,
               augmentation: Augmentation = Augmentation()) -> tuple[torch.Tensor, torch.Tensor]:
        tiles = self.tiles.sample(batch_size, generator, augmentation)
        return inpainting_input(tiles, self.hole), tiles


class InpaintingTrainer(Pix2PixTrainer):
    """pix2pix whose generator draws the hole only."""

    def build_generator(self, channels: int) -> torch.nn.Module:
        return InpaintingGenerator(network_spec(super().build_generator(channels)))


class ErrorScaleTrainer(GanTrainer):
    """Phase 2: with the generator frozen, a U-Net like it learns the Laplace scale σ̂ of the fill's error at
    every hole pixel; loss = mean over the hole of |x − fill| / σ̂ + log σ̂."""

    loss_names = ("loss_nll", "mean_abs_error")
    network_names = ("error_scale",)
    optimizer_names = ("opt_s",)

    def __init__(self, config: InpaintingConfig, bank: InpaintingBank, generator: torch.nn.Module,
                 run_dir: Path) -> None:
        super().__init__(config, run_dir)
        self.bank = bank
        self.frozen_generator = self.to_device(generator).eval().requires_grad_(False)
        self.error_scale = self.to_device(ErrorScaleNetwork(network_spec(build_generator(config,
                                                                                          bank.channels + 1))))
        self.opt_s = adam(self.error_scale.parameters(), config, config.lr_g, self.device)
        self.train_s = self.parallel(self.error_scale)

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

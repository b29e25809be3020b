"""pix2pix: a generator (U-Net or ResNet) and a conditional PatchGAN, adversarial loss + λ·L1."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from GANSynthesisLib.models.networks import (PatchDiscriminator, ResidualGenerator, ResnetGenerator, UNetGenerator,
                                             network_spec)
from training.losses import AdversarialLoss, gradient_penalty, weighted_l1

from .slices import PairedBank, SliceBank
from .trainer import GanTrainer, TrainingConfig, adam


@dataclass
class Pix2PixConfig(TrainingConfig):
    """pix2pix hyper-parameters (defaults follow the pix2pix paper where they apply)."""

    lambda_l1: float = 100.0
    gradient_penalty_weight: float = 10.0
    generator: str = "unet"
    g_base_width: int = 32
    g_depth: int = 7
    g_max_width: int = 256
    g_blocks: int = 6
    g_norm: str = "batch"
    g_dropout: float = 0.5  # U-Net decoder dropout (pix2pix's noise source)
    residual: float = 0.0  # > 0: G outputs input + residual · correction (denoising)
    d_base_width: int = 32
    d_layers: int = 3
    d_norm: str = "batch"

    def __post_init__(self) -> None:
        if self.adversarial == "wgan-gp" and self.d_norm == "batch":
            self.d_norm = "instance"  # the gradient penalty is per sample; batch norm would couple samples


def build_generator(config: Pix2PixConfig, in_channels: int, out_channels: int = 1) -> torch.nn.Module:
    """The configured generator: pix2pix U-Net or ResNet, wrapped as a residual corrector if asked."""
    if config.generator == "unet":
        generator = UNetGenerator(in_channels, out_channels, config.g_base_width, config.g_depth, config.g_max_width,
                                  config.g_norm, config.g_dropout)
    elif config.generator == "resnet":
        generator = ResnetGenerator(in_channels, out_channels, config.g_base_width, config.g_blocks, norm=config.g_norm)
    else:
        raise ValueError(f"unknown generator {config.generator!r}; use 'unet' or 'resnet'")
    if config.residual > 0:
        return ResidualGenerator(network_spec(generator), config.residual)
    return generator


class Pix2PixTrainer(GanTrainer):
    """Trains G(source) → target against D(source, image) on a paired slice bank."""

    loss_names = ("loss_d", "loss_g_adv", "loss_g_l1")

    def __init__(self, config: Pix2PixConfig, bank: "SliceBank | PairedBank", run_dir: Path,
                 snapshot: Callable[[GanTrainer, int], None] | None = None) -> None:
        super().__init__(config, run_dir, snapshot)
        self.bank = bank.to(self.device)
        channels = bank.channels
        self.generator = self.to_device(self.build_generator(channels))
        self.discriminator = self.to_device(PatchDiscriminator(channels + 1, config.d_base_width, config.d_layers,
                                                               config.d_norm))
        self.opt_g = adam(self.generator.parameters(), config, config.lr_g, self.device)
        self.opt_d = adam(self.discriminator.parameters(), config, config.lr_d, self.device)
        self.adversarial = AdversarialLoss(config.adversarial)
        self.train_g, self.train_d = self.parallel(self.generator), self.parallel(self.discriminator)
        self.start_ema()

    def build_generator(self, channels: int) -> torch.nn.Module:
        return build_generator(self.config, channels)

    @property
    def networks(self) -> dict:
        return {"generator": self.generator, "discriminator": self.discriminator}

    @property
    def optimizers(self) -> dict:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        source, target = self.bank.sample(self.config.batch_size, self.sampler, self.augmentation)
        if self.fast_gpu:
            return (source.contiguous(memory_format=torch.channels_last),
                    target.contiguous(memory_format=torch.channels_last))
        return source, target

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        pieces = self.micro_batches(batch)
        count = len(pieces)
        autocast = self.autocast()
        totals = torch.zeros(3, device=self.device)
        self.opt_d.zero_grad(set_to_none=True)
        fakes = []
        for index, (condition, target) in enumerate(pieces):
            # With one micro-batch the fake keeps its graph for the generator step; with several it is made
            # again there, so only one micro-batch of generator activations is ever held.
            with torch.set_grad_enabled(count == 1), autocast:
                fakes.append(self.train_g(condition))
            with self.sync_gradients(self.train_d, index == count - 1):
                with autocast:
                    real_pair = torch.cat([condition, target], 1)
                    fake_pair = torch.cat([condition, fakes[-1].detach()], 1)
                    loss_d = self.adversarial.discriminator(self.train_d(real_pair), self.train_d(fake_pair))
                if self.adversarial.needs_gradient_penalty:
                    loss_d = loss_d + gradient_penalty(self.discriminator, real_pair.float(), fake_pair.float(),
                                                       self.config.gradient_penalty_weight)
                (loss_d / count).backward()
            totals[0] += loss_d.detach().float() / count
        self.opt_d.step()
        # Generator step through the plain, frozen discriminator: no D gradients, no DDP sync for D.
        self.discriminator.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        for index, ((condition, target), fake) in enumerate(zip(pieces, fakes)):
            with self.sync_gradients(self.train_g, index == count - 1):
                with autocast:
                    if count > 1:
                        fake = self.train_g(condition)
                    loss_adv = self.adversarial.generator(self.discriminator(torch.cat([condition, fake], 1)))
                    loss_l1 = weighted_l1(fake.float(), target, self.config.lambda_l1)
                ((loss_adv + loss_l1) / count).backward()
            totals[1] += loss_adv.detach().float() / count
            totals[2] += loss_l1.detach().float() / count
        self.opt_g.step()
        self.discriminator.requires_grad_(True)
        return totals

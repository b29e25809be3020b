"""pix2pix: config, a generator (U-Net or ResNet) and a conditional PatchGAN, the adversarial + λ·L1 step, and
training from paired cases."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import torch

from GANSynthesisLib.models.networks import (PatchDiscriminator, ResidualGenerator, ResnetGenerator, UNetGenerator,
                                             network_spec)
from GANSynthesisTraining.data.slice_banks import PairedBank, SliceBank, SourceEncoder
from GANSynthesisTraining.loop.losses import AdversarialLoss, gradient_penalty, weighted_l1
from GANSynthesisTraining.loop.monitoring import snapshot_writer, validation_error
from GANSynthesisTraining.loop.trainer import GanTrainer, TrainingConfig, adam, run_training


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

    HELP: ClassVar[dict[str, str]] = {
        "lambda_l1": "weight of the L1 term (λ)", "gradient_penalty_weight": "WGAN-GP penalty weight",
        "generator": "generator: unet or resnet", "g_base_width": "generator channels at full resolution",
        "g_depth": "U-Net down-samplings", "g_max_width": "generator channels at most",
        "g_blocks": "ResNet generator residual blocks", "g_norm": "generator normalisation: batch, instance or none",
        "g_dropout": "U-Net decoder dropout (pix2pix's noise source)",
        "residual": "> 0: the generator outputs input + residual · correction (denoising)",
        "d_base_width": "PatchGAN channels of its first layer", "d_layers": "PatchGAN strided layers (3: 70×70)",
        "d_norm": "PatchGAN normalisation: batch, instance or none"}

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
    network_names = ("generator", "discriminator")
    optimizer_names = ("opt_g", "opt_d")

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

    def generator_input(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return batch[0]

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


def train_pix2pix(args: argparse.Namespace, config: Pix2PixConfig, train: list, validation: list, test: list,
                  encoder: SourceEncoder, window: tuple[float, float], labels: bool) -> Pix2PixTrainer | None:
    """Slice banks from the cases, then pix2pix training; the trainer on rank 0, None on the others."""
    print(f"preparing {len(train)} training cases …", flush=True)
    bank = SliceBank.from_cases(train, encoder, args.spacing, args.canvas, window)
    print(f"{len(bank)} slices of {args.canvas}×{args.canvas} in memory", flush=True)
    fixed = SliceBank.from_cases(test[:2], encoder, args.spacing, args.canvas, window)
    trainer = Pix2PixTrainer(config, bank, args.run_dir, snapshot_writer(fixed, args.run_dir, labels))
    if validation:
        trainer.validate = validation_error(SliceBank.from_cases(validation, encoder, args.spacing, args.canvas,
                                                                 window), window)
    if not run_training(trainer, args.resume):
        return None
    trainer.settle_batch_norm()
    return trainer

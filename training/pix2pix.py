"""pix2pix training: U-Net generator, conditional PatchGAN, adversarial loss + λ·L1."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from GANSynthesisLib.losses import AdversarialLoss, gradient_penalty, weighted_l1
from GANSynthesisLib.networks import PatchDiscriminator, UNetGenerator

from .checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from .plots import plot_losses
from .slices import SliceBank

LOSS_COLUMNS = ("loss_d", "loss_g_adv", "loss_g_l1")


@dataclass
class Pix2PixConfig:
    """Hyper-parameters of one pix2pix run (defaults follow the pix2pix paper where they apply)."""

    steps: int = 2000
    batch_size: int = 8
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    lambda_l1: float = 100.0
    adversarial: str = "lsgan"
    gradient_penalty_weight: float = 10.0
    g_base_width: int = 32
    g_depth: int = 7
    g_max_width: int = 256
    g_norm: str = "batch"
    d_base_width: int = 32
    d_layers: int = 3
    d_norm: str = "batch"
    log_every: int = 25
    checkpoint_every: int = 250
    snapshot_steps: list[int] = field(default_factory=lambda: [0, 250, 1000])
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.adversarial == "wgan-gp" and self.d_norm == "batch":
            self.d_norm = "instance"  # the gradient penalty is per sample; batch norm would couple samples


def build_networks(config: Pix2PixConfig, condition_channels: int) -> tuple[UNetGenerator, PatchDiscriminator]:
    generator = UNetGenerator(condition_channels, 1, config.g_base_width, config.g_depth, config.g_max_width, config.g_norm)
    discriminator = PatchDiscriminator(condition_channels + 1, config.d_base_width, config.d_layers, config.d_norm)
    return generator, discriminator


class Pix2PixTrainer:
    """Trains G and D on a slice bank; writes losses.csv, losses.png, snapshots and checkpoints to ``run_dir``."""

    def __init__(self, config: Pix2PixConfig, bank: SliceBank, run_dir: Path,
                 snapshot: Callable[[UNetGenerator, int], None] | None = None) -> None:
        self.config, self.run_dir, self.snapshot = config, run_dir, snapshot
        run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed)
        self.device = torch.device(config.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.bank = bank.to(self.device)
        self.generator, self.discriminator = (n.to(self.device) for n in build_networks(config, bank.conditions.shape[1]))
        if self.device.type == "cuda":
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        fused = self.device.type == "cuda"
        self.opt_g = torch.optim.Adam(self.generator.parameters(), config.lr_g, betas=(config.beta1, 0.999), fused=fused)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), config.lr_d, betas=(config.beta1, 0.999), fused=fused)
        self.adversarial = AdversarialLoss(config.adversarial)
        self.sampler = torch.Generator().manual_seed(config.seed)
        self.step = 0

    @property
    def networks(self) -> dict:
        return {"generator": self.generator, "discriminator": self.discriminator}

    @property
    def optimizers(self) -> dict:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def resume(self) -> bool:
        """Continue from the run folder's checkpoint if there is one."""
        if not has_checkpoint(self.run_dir):
            return False
        meta = load_checkpoint(self.run_dir, self.networks, self.optimizers)
        self.step = meta["step"]
        return True

    def train_step(self, condition: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """One D update then one G update; returns the three losses (detached, on the device)."""
        autocast = torch.autocast(self.device.type, torch.bfloat16, enabled=self.device.type == "cuda")
        with autocast:
            fake = self.generator(condition)
            real_pair, fake_pair = torch.cat([condition, target], 1), torch.cat([condition, fake.detach()], 1)
            loss_d = self.adversarial.discriminator(self.discriminator(real_pair), self.discriminator(fake_pair))
        if self.adversarial.needs_gradient_penalty:
            loss_d = loss_d + gradient_penalty(self.discriminator, real_pair.float(), fake_pair.float(),
                                               self.config.gradient_penalty_weight)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        with autocast:
            loss_adv = self.adversarial.generator(self.discriminator(torch.cat([condition, fake], 1)))
            loss_l1 = weighted_l1(fake.float(), target, self.config.lambda_l1)
        self.opt_g.zero_grad(set_to_none=True)
        (loss_adv + loss_l1).backward()
        self.opt_g.step()
        return torch.stack([loss_d.detach(), loss_adv.detach(), loss_l1.detach()]).float()

    def train(self, log: Callable[[str], None] = print) -> None:
        """Run until ``config.steps``, logging every ``log_every`` steps without per-step host syncs."""
        config = self.config
        csv_path = self.run_dir / "losses.csv"
        if self.step == 0 or not csv_path.exists():
            with open(csv_path, "w", newline="") as stream:
                csv.writer(stream).writerow(["step", *LOSS_COLUMNS, "images_per_s"])
        (self.run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
        running = torch.zeros(3, device=self.device)
        started, counted = time.perf_counter(), 0
        self.generator.train()
        self.discriminator.train()
        while self.step < config.steps:
            if self.snapshot and self.step in config.snapshot_steps:
                self.snapshot(self.generator, self.step)
            # Random state derives from (seed, step) alone, so a resumed run repeats an uninterrupted one.
            torch.manual_seed(config.seed * 1_000_003 + self.step)
            self.sampler.manual_seed(config.seed * 7_919 + self.step)
            condition, target = self.bank.sample(config.batch_size, self.sampler)
            if self.device.type == "cuda":
                condition = condition.contiguous(memory_format=torch.channels_last)
                target = target.contiguous(memory_format=torch.channels_last)
            running += self.train_step(condition, target)
            self.step += 1
            counted += 1
            if self.step % config.log_every == 0 or self.step == config.steps:
                losses = (running / counted).tolist()
                rate = counted * config.batch_size / (time.perf_counter() - started)
                with open(csv_path, "a", newline="") as stream:
                    csv.writer(stream).writerow([self.step, *(f"{v:.5f}" for v in losses), f"{rate:.1f}"])
                log(f"step {self.step}/{config.steps}  D {losses[0]:.4f}  G_adv {losses[1]:.4f}  "
                    f"L1 {losses[2]:.4f}  {rate:.1f} img/s")
                running.zero_()
                started, counted = time.perf_counter(), 0
            if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                save_checkpoint(self.run_dir, self.step, self.networks, self.optimizers)
                plot_losses(csv_path, self.run_dir / "losses.png")
        if self.snapshot and self.step in config.snapshot_steps:
            self.snapshot(self.generator, self.step)

"""CycleGAN for unpaired translation: G_AB, G_BA, D_A, D_B, cycle and identity losses, image pools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import torch

from GANSynthesisLib.engine.inference import host_to_device
from GANSynthesisLib.models.networks import PatchDiscriminator
from GANSynthesisTraining.data.augmentation import TARGET
from GANSynthesisTraining.data.slice_banks import on_device_or_pinned, sample_rows
from GANSynthesisTraining.families.pix2pix.model import Pix2PixConfig, build_generator
from GANSynthesisTraining.loop.losses import AdversarialLoss
from GANSynthesisTraining.loop.trainer import GanTrainer, adam


@dataclass
class CycleGANConfig(Pix2PixConfig):
    """CycleGAN hyper-parameters (reference defaults: λ_cycle 10, λ_identity 0.5, pool 50, ResNet G)."""

    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    generator: str = "resnet"
    g_norm: str = "instance"
    d_norm: str = "instance"

    HELP: ClassVar[dict[str, str]] = {
        "lambda_cycle": "weight of the cycle-consistency L1 (λ_cycle)",
        "lambda_identity": "weight of the identity L1, relative to λ_cycle",
        "pool_size": "generated images kept in each discriminator's history pool (0: none)"}


class ImagePool:
    """The last ``size`` generated images; each new image is, with probability ½, swapped for a stored one.

    Batched and on the device (no per-sample Python), as in the CycleGAN paper's history buffer.
    """

    def __init__(self, size: int) -> None:
        self.size, self.images, self.count = size, None, 0

    def query(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        images = images.detach()
        if self.size == 0:
            return images
        if self.images is None:  # one spare row beyond the pool takes the writes of images not swapped
            self.images = torch.empty((self.size + 1, *images.shape[1:]), dtype=images.dtype, device=images.device)
        n = images.shape[0]
        if self.count < self.size:  # still filling: store and return as they are
            take = min(n, self.size - self.count)
            self.images[self.count:self.count + take] = images[:take]
            self.count += take
            return images
        swap = host_to_device(torch.rand(n, generator=generator) < 0.5, images.device)
        slots = host_to_device(torch.randint(self.size, (n,), generator=generator), images.device)
        returned = torch.where(swap.view(-1, 1, 1, 1), self.images[slots], images)
        self.images[torch.where(swap, slots, self.size)] = images  # no boolean indexing: no host sync
        return returned


class CycleGANTrainer(GanTrainer):
    """Trains A → B and B → A from two unpaired slice tensors (N, 1, H, W) in [-1, 1]."""

    loss_names = ("loss_d_a", "loss_d_b", "loss_g_adv", "loss_cycle", "loss_identity")
    network_names = ("generator", "generator_ba", "disc_a", "disc_b")
    optimizer_names = ("opt_g", "opt_d")

    def __init__(self, config: CycleGANConfig, domain_a: torch.Tensor, domain_b: torch.Tensor, run_dir: Path,
                 snapshot: Callable[[GanTrainer, int], None] | None = None) -> None:
        super().__init__(config, run_dir, snapshot)
        self.domain_a = on_device_or_pinned(domain_a, self.device)
        self.domain_b = on_device_or_pinned(domain_b, self.device)
        self.generator = self.to_device(build_generator(config, 1))  # A → B, the one exported
        self.generator_ba = self.to_device(build_generator(config, 1))
        self.disc_a = self.to_device(PatchDiscriminator(1, config.d_base_width, config.d_layers, config.d_norm))
        self.disc_b = self.to_device(PatchDiscriminator(1, config.d_base_width, config.d_layers, config.d_norm))
        self.opt_g = adam(list(self.generator.parameters()) + list(self.generator_ba.parameters()), config,
                          config.lr_g, self.device)
        self.opt_d = adam(list(self.disc_a.parameters()) + list(self.disc_b.parameters()), config, config.lr_d,
                          self.device)
        self.adversarial = AdversarialLoss(config.adversarial)
        if self.adversarial.needs_gradient_penalty:
            raise ValueError("CycleGAN here trains with vanilla, lsgan or hinge losses")
        if config.intensity_jitter:
            raise ValueError("CycleGAN trains without --intensity-jitter: each domain's images are also what the "
                             "other generator must produce, so jitter would teach it jittered intensities")
        self.pool_a, self.pool_b = ImagePool(config.pool_size), ImagePool(config.pool_size)
        self.train_g, self.train_g_ba = self.parallel(self.generator), self.parallel(self.generator_ba)
        self.train_d_a, self.train_d_b = self.parallel(self.disc_a), self.parallel(self.disc_b)
        self.start_ema()

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        (a,) = sample_rows([self.domain_a], self.config.batch_size, self.sampler, device=self.device)
        (b,) = sample_rows([self.domain_b], self.config.batch_size, self.sampler, device=self.device)
        (a,) = self.augmentation([a], [TARGET], self.sampler)
        (b,) = self.augmentation([b], [TARGET], self.sampler)
        return a, b

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        config = self.config
        fakes_a, fakes_b = [], []

        def generator_losses(real_a: torch.Tensor, real_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with self.autocast():
                fake_b, fake_a = self.train_g(real_a), self.train_g_ba(real_b)
                cycle_a, cycle_b = self.train_g_ba(fake_b), self.train_g(fake_a)
                identity_b, identity_a = self.train_g(real_b), self.train_g_ba(real_a)
                loss_adv = (self.adversarial.generator(self.disc_b(fake_b))
                            + self.adversarial.generator(self.disc_a(fake_a)))
                loss_cycle = config.lambda_cycle * ((cycle_a - real_a).abs().mean() + (cycle_b - real_b).abs().mean())
                loss_identity = config.lambda_identity * config.lambda_cycle * (
                    (identity_b - real_b).abs().mean() + (identity_a - real_a).abs().mean())
            fakes_a.append(fake_a.detach())
            fakes_b.append(fake_b.detach())
            return loss_adv + loss_cycle + loss_identity, torch.stack([loss_adv, loss_cycle, loss_identity])

        def discriminator_losses(real_a: torch.Tensor, real_b: torch.Tensor, pooled_a: torch.Tensor,
                                 pooled_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with self.autocast():
                loss_d_b = self.adversarial.discriminator(self.train_d_b(real_b), self.train_d_b(pooled_b))
                loss_d_a = self.adversarial.discriminator(self.train_d_a(real_a), self.train_d_a(pooled_a))
            return loss_d_a + loss_d_b, torch.stack([loss_d_a, loss_d_b])

        for d in (self.disc_a, self.disc_b):  # generator step through the plain, frozen discriminators
            d.requires_grad_(False)
        generator_logged = self.accumulated_update((self.train_g, self.train_g_ba), self.opt_g, batch,
                                                   generator_losses)
        for d in (self.disc_a, self.disc_b):
            d.requires_grad_(True)
        # The pools see the whole batch's fakes at once, so micro-batches make exactly the update of one batch.
        pooled_b = self.pool_b.query(torch.cat(fakes_b), self.sampler)
        pooled_a = self.pool_a.query(torch.cat(fakes_a), self.sampler)
        discriminator_logged = self.accumulated_update((self.train_d_a, self.train_d_b), self.opt_d,
                                                       (*batch, pooled_a, pooled_b), discriminator_losses)
        return torch.cat([discriminator_logged, generator_logged])

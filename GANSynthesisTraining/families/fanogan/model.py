"""f-AnoGAN (Schlegl et al. 2019) on tiles of normal anatomy: a WGAN-GP learns the tiles, then an encoder learns to
map a tile to the latent vector the generator reconstructs it from (izi_f: image and critic-feature residuals)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import torch

from GANSynthesisLib.models.networks import Critic, LatentEncoder, LatentGenerator
from GANSynthesisTraining.data.tile_banks import TileBank
from GANSynthesisTraining.loop.losses import AdversarialLoss, gradient_penalty
from GANSynthesisTraining.loop.trainer import GanTrainer, TrainingConfig, adam


@dataclass
class AnomalyConfig(TrainingConfig):
    """f-AnoGAN hyper-parameters (WGAN-GP defaults from Gulrajani et al.: n_critic 5, λ 10, Adam β (0, 0.9))."""

    adversarial: str = "wgan-gp"
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    batch_size: int = 32
    tile: int = 64
    latent_dim: int = 128
    base_width: int = 32
    max_width: int = 256
    critic_steps: int = 5
    gradient_penalty_weight: float = 10.0
    encoder_steps: int = 1500
    lr_e: float = 1e-4
    kappa: float = 1.0  # weight of the critic-feature residual (izi_f)

    HELP: ClassVar[dict[str, str]] = {
        "tile": "tile size (pixels) cut from the slices", "latent_dim": "latent vector length",
        "base_width": "generator, critic and encoder channels at full resolution", "max_width": "their channels at most",
        "critic_steps": "critic updates per generator update", "gradient_penalty_weight": "WGAN-GP penalty weight (λ)",
        "encoder_steps": "steps of the izi_f encoder (phase 2)", "lr_e": "encoder learning rate (Adam)",
        "kappa": "weight of the critic-feature residual (izi_f)"}


def build_networks(config: AnomalyConfig) -> tuple[LatentGenerator, Critic, LatentEncoder]:
    """Untrained generator, critic and encoder of the configured size."""
    return (LatentGenerator(config.latent_dim, config.tile, config.base_width, config.max_width),
            Critic(config.tile, config.base_width, config.max_width),
            LatentEncoder(config.latent_dim, config.tile, config.base_width, config.max_width))


def latent_sample(count: int, dim: int, device: torch.device) -> torch.Tensor:
    """Latent vectors, uniform in [-1, 1] (the encoder's tanh range)."""
    return torch.rand(count, dim, device=device) * 2 - 1


class WganTrainer(GanTrainer):
    """Phase 1: WGAN-GP on normal tiles; ``critic_steps`` critic updates per generator update."""

    loss_names = ("loss_critic", "loss_gradient_penalty", "loss_g")
    network_names = ("generator", "critic")
    optimizer_names = ("opt_g", "opt_d")

    def __init__(self, config: AnomalyConfig, bank: TileBank, run_dir: Path,
                 snapshot: Callable[[GanTrainer, int], None] | None = None) -> None:
        super().__init__(config, run_dir, snapshot)
        self.bank = bank
        generator, critic, _ = build_networks(config)
        self.generator, self.critic = self.to_device(generator), self.to_device(critic)
        self.opt_g = adam(self.generator.parameters(), config, config.lr_g, self.device)
        self.opt_d = adam(self.critic.parameters(), config, config.lr_d, self.device)
        self.adversarial = AdversarialLoss(config.adversarial)
        self.train_g, self.train_d = self.parallel(self.generator), self.parallel(self.critic)
        self.start_ema()

    def sample(self) -> tuple[torch.Tensor]:
        return (self.bank.sample(self.config.batch_size * self.config.critic_steps, self.sampler, self.augmentation),)

    def critic_losses(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad(), self.autocast():
            fake = self.train_g(latent_sample(real.shape[0], self.config.latent_dim, self.device)).float()
        with self.autocast():
            loss_critic = self.adversarial.discriminator(self.train_d(real), self.train_d(fake))
        penalty = gradient_penalty(self.critic, real, fake, self.config.gradient_penalty_weight)
        return loss_critic + penalty, torch.stack([loss_critic.float(), penalty.float()])

    def generator_losses(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            loss_g = self.adversarial.generator(self.critic(self.train_g(latents)))
        return loss_g, loss_g.float()[None]

    def train_step(self, batch: tuple[torch.Tensor]) -> torch.Tensor:
        config = self.config
        reals = batch[0].split(config.batch_size)
        critic_totals = sum(self.accumulated_update(self.train_d, self.opt_d, (real,), self.critic_losses)
                            for real in reals) / len(reals)
        self.critic.requires_grad_(False)
        latents = latent_sample(config.batch_size, config.latent_dim, self.device)
        generator_totals = self.accumulated_update(self.train_g, self.opt_g, (latents,), self.generator_losses)
        self.critic.requires_grad_(True)
        return torch.cat([critic_totals, generator_totals])


def izif_residuals(tiles: torch.Tensor, reconstruction: torch.Tensor, critic: Critic) -> tuple[torch.Tensor, torch.Tensor]:
    """Per tile: mean squared image residual and mean squared critic-feature residual."""
    image = ((tiles - reconstruction) ** 2).flatten(1).mean(1)
    features = ((critic.features(tiles) - critic.features(reconstruction)) ** 2).mean(1)
    return image, features


class EncoderTrainer(GanTrainer):
    """Phase 2 (izi_f): the encoder learns x → z with G and the critic frozen;
    loss = ‖x − G(E(x))‖² + κ · ‖f(x) − f(G(E(x)))‖² (means over pixels and features)."""

    loss_names = ("loss_image", "loss_features")
    network_names = ("encoder",)
    optimizer_names = ("opt_e",)

    def __init__(self, config: AnomalyConfig, bank: TileBank, generator: LatentGenerator, critic: Critic,
                 run_dir: Path, snapshot: Callable[[GanTrainer, int], None] | None = None) -> None:
        super().__init__(config, run_dir, snapshot)
        self.bank = bank
        self.frozen_generator = self.to_device(generator).eval().requires_grad_(False)
        self.frozen_critic = self.to_device(critic).eval().requires_grad_(False)
        self.encoder = self.to_device(build_networks(config)[2])
        self.opt_e = adam(self.encoder.parameters(), config, config.lr_e, self.device)
        self.train_e = self.parallel(self.encoder)

    def sample(self) -> tuple[torch.Tensor]:
        return (self.bank.sample(self.config.batch_size, self.sampler, self.augmentation),)

    def encoder_losses(self, tiles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            reconstruction = self.frozen_generator(self.train_e(tiles)).float()
            image, features = izif_residuals(tiles, reconstruction, self.frozen_critic)
            loss_image, loss_features = image.mean(), features.float().mean()
        return loss_image + self.config.kappa * loss_features, torch.stack([loss_image, loss_features])

    def train_step(self, batch: tuple[torch.Tensor]) -> torch.Tensor:
        return self.accumulated_update(self.train_e, self.opt_e, batch, self.encoder_losses)


def reconstruct(encoder: LatentEncoder, generator: LatentGenerator, tiles: torch.Tensor) -> torch.Tensor:
    """G(E(x)) without gradients."""
    with torch.no_grad():
        return generator(encoder(tiles))

"""Adversarial losses (vanilla, LSGAN, hinge, WGAN-GP), the gradient penalty and weighted L1."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

ADVERSARIAL_KINDS = ("vanilla", "lsgan", "hinge", "wgan-gp")


class AdversarialLoss:
    """The discriminator's and the generator's adversarial loss for one GAN objective.

    ``vanilla``: BCE with logits; ``lsgan``: least squares to 1/0; ``hinge``: relu(1∓D) for D, −D for G;
    ``wgan-gp``: D(fake) − D(real) for D (add :func:`gradient_penalty`), −D(fake) for G.
    """

    def __init__(self, kind: str = "lsgan") -> None:
        if kind not in ADVERSARIAL_KINDS:
            raise ValueError(f"Unknown adversarial loss {kind!r}; use one of {ADVERSARIAL_KINDS}")
        self.kind = kind

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Loss of D given its outputs on real and generated samples."""
        if self.kind == "vanilla":
            return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                          + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        if self.kind == "lsgan":
            return 0.5 * (((real - 1) ** 2).mean() + (fake**2).mean())
        if self.kind == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        return fake.mean() - real.mean()

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        """Adversarial loss of G given D's output on generated samples."""
        if self.kind == "vanilla":
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        if self.kind == "lsgan":
            return ((fake - 1) ** 2).mean()
        return -fake.mean()

    @property
    def needs_gradient_penalty(self) -> bool:
        """Whether training must add :func:`gradient_penalty` to the discriminator loss."""
        return self.kind == "wgan-gp"


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP penalty: weight · E[(‖∇ critic(x̂)‖₂ − 1)²] at random interpolates x̂ of real and fake."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return weight * ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def weighted_l1(prediction: torch.Tensor, target: torch.Tensor, weight: float = 100.0) -> torch.Tensor:
    """λ · mean |prediction − target| (pix2pix reconstruction term)."""
    return weight * (prediction - target).abs().mean()

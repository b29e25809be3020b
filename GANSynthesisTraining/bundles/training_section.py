"""The training section of a GAN model's manifest: data, steps, loss, device and a one-line summary."""

from __future__ import annotations

from GANSynthesisTraining.data.augmentation import Augmentation
from GANSynthesisTraining.loop.trainer import TrainingConfig


def training_summary(config: TrainingConfig, data: str, note: str = "") -> dict:
    """The manifest's training section: ``data`` (what it was trained on), steps, batch, loss, device and the
    summary sentence of the model card, ending with ``note``."""
    device = "GPU" if config.device.startswith("cuda") else "CPU (small configuration, no GPU was available)"
    summary = (f"{config.steps} steps of batch {config.batch_size} on {device}, {config.adversarial} adversarial "
               f"loss, Adam lr {config.lr_g:g} β1 {config.beta1}")
    if config.ema_decay:
        summary += f", exported weights: EMA (decay {config.ema_decay:g})"
    augmentation = Augmentation.from_config(config)
    if augmentation.active:
        summary += f", {augmentation.describe()}"
    return {"data": data, "steps": config.steps, "batch_size": config.batch_size, "adversarial_loss": config.adversarial,
            "device": device, "summary": summary + (f". {note}" if note else "")}

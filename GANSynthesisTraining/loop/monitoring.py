"""What a running image-to-image training shows: the validation error at each checkpoint and snapshots of fixed
held-out slices."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from GANSynthesisTraining.data.slice_banks import SliceBank
from GANSynthesisTraining.evaluation.plots import save_image_grid
from GANSynthesisTraining.loop.trainer import GanTrainer, evaluating

AIR_BELOW_HU = -900.0  # validation error leaves out target pixels below this


def validation_error(bank: SliceBank, window: tuple[float, float],
                     batch_size: int = 32) -> Callable[[GanTrainer], dict[str, float]]:
    """The generator's mean absolute error (HU) on the validation slices, over the pixels whose target is not air."""
    hu_per_unit = (window[1] - window[0]) / 2
    air = -1 + 2 * (AIR_BELOW_HU - window[0]) / (window[1] - window[0])  # in the targets' [-1, 1] units

    def score(trainer: GanTrainer) -> dict[str, float]:
        error, count = torch.zeros((), device=trainer.device), torch.zeros((), device=trainer.device)
        with evaluating(trainer.export_generator) as generator, trainer.autocast():
            for start in range(0, len(bank), batch_size):
                sources = bank.sources[start:start + batch_size].to(trainer.device).float()
                targets = bank.targets[start:start + batch_size].to(trainer.device).float()
                inside = targets > air
                error += ((generator(sources).float() - targets).abs() * inside).sum()
                count += inside.sum()
        return {"mae_hu": float(error / count.clamp(min=1)) * hu_per_unit}

    return score

def snapshot_writer(fixed: SliceBank, run_dir: Path, labels: bool) -> Callable[[GanTrainer, int], None]:
    """Writes snapshots/step_NNNNNN.png: source | target | output of fixed held-out slices."""
    foreground = fixed.sources[:, 1:].sum(dim=(1, 2, 3)) if labels else (fixed.targets > -0.9).sum(dim=(1, 2, 3))
    chosen = foreground.argsort(descending=True)[:: max(1, len(fixed) // 8)][:4]
    sources, targets = fixed.sources[chosen].float(), fixed.targets[chosen].float()
    (run_dir / "snapshots").mkdir(parents=True, exist_ok=True)

    def snapshot(trainer: GanTrainer, step: int) -> None:
        with evaluating(trainer.export_generator) as generator:
            fake = generator(sources.to(trainer.device)).float().cpu()
        shown_sources = sources.argmax(1) if labels else sources[:, 0]
        source_style = (0, sources.shape[1] - 1, "nipy_spectral") if labels else (-1, 1, "gray")
        save_image_grid({"source": list(shown_sources.numpy()), "target": list(targets[:, 0].numpy()),
                         "output": list(fake[:, 0].numpy())}, run_dir / "snapshots" / f"step_{step:06d}.png",
                        {"source": source_style, "target": (-1, 0, "gray"), "output": (-1, 0, "gray")},
                        title=f"step {step}")

    return snapshot

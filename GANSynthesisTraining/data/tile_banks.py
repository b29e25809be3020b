"""Banks of normal axial slices that deliver random square tiles on the device (the anomaly models' training data)."""

from __future__ import annotations

import torch

from GANSynthesisLib.engine.inference import host_to_device

from GANSynthesisTraining.data.augmentation import IMAGE, Augmentation
from GANSynthesisTraining.data.slice_banks import on_device_or_pinned


class TileBank:
    """Normal axial slices (N, 1, H, W) in [-1, 1]; batches are random tile × tile crops, cut on the device."""

    def __init__(self, slices: torch.Tensor, tile: int, device: torch.device) -> None:
        if min(slices.shape[2:]) < tile:
            raise ValueError(f"slices of {tuple(slices.shape[2:])} are smaller than the {tile}-pixel tile")
        self.slices, self.tile, self.device = on_device_or_pinned(slices, device), tile, device

    def sample(self, count: int, generator: torch.Generator,
               augmentation: Augmentation = Augmentation()) -> torch.Tensor:
        """``count`` random crops (count, 1, tile, tile), float32 on the device, augmented: one gather, no Python
        loop."""
        n, _, height, width = self.slices.shape
        index = torch.randint(n, (count,), generator=generator)
        top = torch.randint(height - self.tile + 1, (count,), generator=generator)
        left = torch.randint(width - self.tile + 1, (count,), generator=generator)
        offsets = torch.arange(self.tile)
        rows = (top[:, None] + offsets)[:, :, None]
        cols = (left[:, None] + offsets)[:, None, :]
        where = self.slices.device
        index, rows, cols = (host_to_device(t, where) for t in (index[:, None, None], rows, cols))
        crops = self.slices[index, 0, rows, cols]
        (crops,) = augmentation([crops.to(self.device, non_blocking=True).float()[:, None]], [IMAGE], generator)
        return crops


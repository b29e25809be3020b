"""An in-memory bank of axial training slices on the model grid, sampled in batches on the device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from GANSynthesisLib.inference import model_grid_size
from GANSynthesisLib.intensity import to_unit_range
from GANSynthesisLib.orientation import axial_view
from GANSynthesisLib.synthesis import labels_to_channels

from .datasets import LabelledCase


def _fit_canvas(x: torch.Tensor, canvas: int, fill: torch.Tensor) -> torch.Tensor:
    """Centre-crop or pad (with per-channel ``fill``) the last two axes to canvas × canvas."""
    n, c, h, w = x.shape
    out = fill.view(1, -1, 1, 1).expand(n, c, canvas, canvas).clone()
    sh, sw = max(0, (h - canvas) // 2), max(0, (w - canvas) // 2)
    dh, dw = max(0, (canvas - h) // 2), max(0, (canvas - w) // 2)
    hh, ww = min(h, canvas), min(w, canvas)
    out[:, :, dh:dh + hh, dw:dw + ww] = x[:, :, sh:sh + hh, sw:sw + ww]
    return out


@dataclass
class SliceBank:
    """Conditions (one-hot labels) and targets (images in [-1, 1]) as (N, C, canvas, canvas) tensors."""

    conditions: torch.Tensor
    targets: torch.Tensor

    @classmethod
    def from_cases(cls, cases: list[LabelledCase], label_values: list[int], spacing_mm: float, canvas: int,
                   window: tuple[float, float]) -> "SliceBank":
        conditions, targets = [], []
        label_fill = torch.zeros(len(label_values) + 1)
        label_fill[0] = 1
        for case in cases:
            view = axial_view(case.labels)
            labels = torch.from_numpy(labels_to_channels(np.ascontiguousarray(view.forward(case.labels.array)), label_values))
            onehot = F.one_hot(labels, len(label_values) + 1).permute(0, 3, 1, 2).float()
            image = to_unit_range(torch.from_numpy(np.ascontiguousarray(view.forward(case.image.array))).float(), *window)[:, None]
            grid = (model_grid_size(onehot.shape[2], view.spacing_kji[1], spacing_mm),
                    model_grid_size(onehot.shape[3], view.spacing_kji[2], spacing_mm))
            if grid != tuple(onehot.shape[2:]):
                onehot = F.interpolate(onehot, size=grid, mode="bilinear", align_corners=False, antialias=True)
                image = F.interpolate(image, size=grid, mode="bilinear", align_corners=False, antialias=True)
            conditions.append(_fit_canvas(onehot, canvas, label_fill).half())
            targets.append(_fit_canvas(image, canvas, torch.tensor([-1.0])).half())
        return cls(torch.cat(conditions), torch.cat(targets))

    def __len__(self) -> int:
        return self.conditions.shape[0]

    def to(self, device: torch.device) -> "SliceBank":
        pin = device.type == "cuda"
        return SliceBank(self.conditions.to(device, non_blocking=pin), self.targets.to(device, non_blocking=pin))

    def sample(self, batch_size: int, generator: torch.Generator, max_shift: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch (float32), shifted together by a random in-plane translation."""
        device = self.conditions.device
        index = torch.randint(len(self), (batch_size,), generator=generator, device="cpu").to(device)
        condition, target = self.conditions[index].float(), self.targets[index].float()
        if max_shift:
            dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=generator))
            condition = torch.roll(condition, (dy, dx), (2, 3))
            target = torch.roll(target, (dy, dx), (2, 3))
        return condition, target

"""In-memory banks of axial training slices on the model grid, sampled in batches on the device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from GANSynthesisLib.core.orientation import axial_view
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.engine.inference import host_to_device, model_grid_size
from GANSynthesisLib.engine.input_checks import input_range
from GANSynthesisLib.engine.unit_range import to_unit_range
from GANSynthesisLib.models.manifest import Normalisation
from GANSynthesisLib.tasks.synthesis.labels_to_ct import one_hot_labels
from GANSynthesisTraining.data.augmentation import IMAGE, LABELS, TARGET, Augmentation
from GANSynthesisTraining.data.paired_cases import PairedCase


class SourceEncoder(Protocol):
    """Turns a volume's axial slices into network input channels."""

    fill: torch.Tensor  # (C,) values outside the field of view
    kind: str  # LABELS or IMAGE (how augmentation treats the channels)

    def encode(self, axial: np.ndarray) -> torch.Tensor:
        """(N, H, W) axial slices → (N, C, H, W) float tensor."""


class OneHotLabels:
    """Label values → one-hot channels (background first)."""

    kind = LABELS

    def __init__(self, label_values: list[int]) -> None:
        self.label_values = label_values
        self.fill = torch.zeros(len(label_values) + 1)
        self.fill[0] = 1

    def encode(self, axial: np.ndarray) -> torch.Tensor:
        return one_hot_labels(axial, self.label_values, torch.device("cpu"))


class NormalisedImage:
    """Image → one channel in [-1, 1] by a manifest normalisation (window or per-volume percentiles)."""

    kind = IMAGE

    def __init__(self, normalisation: Normalisation) -> None:
        self.normalisation = normalisation
        self.fill = torch.tensor([-1.0])

    def encode(self, axial: np.ndarray) -> torch.Tensor:
        low, high = input_range(axial, self.normalisation)
        return to_unit_range(torch.from_numpy(np.asarray(axial, np.float32)), low, high)[:, None]


def _fit_canvas(x: torch.Tensor, canvas: int, fill: torch.Tensor) -> torch.Tensor:
    """Centre-crop or pad (with per-channel ``fill``) the last two axes to canvas × canvas."""
    n, c, h, w = x.shape
    out = fill.view(1, -1, 1, 1).expand(n, c, canvas, canvas).clone()
    sh, sw = max(0, (h - canvas) // 2), max(0, (w - canvas) // 2)
    dh, dw = max(0, (canvas - h) // 2), max(0, (canvas - w) // 2)
    hh, ww = min(h, canvas), min(w, canvas)
    out[:, :, dh:dh + hh, dw:dw + ww] = x[:, :, sh:sh + hh, sw:sw + ww]
    return out


def axial_slices(volume: Volume, encoder: SourceEncoder, spacing_mm: float, canvas: int) -> torch.Tensor:
    """Every axial slice of ``volume`` encoded, resampled in-plane to ``spacing_mm`` and fitted to the canvas (fp16)."""
    view = axial_view(volume)
    x = encoder.encode(np.ascontiguousarray(view.forward(volume.array)))
    grid = (model_grid_size(x.shape[2], view.spacing_kji[1], spacing_mm),
            model_grid_size(x.shape[3], view.spacing_kji[2], spacing_mm))
    if grid != tuple(x.shape[2:]):
        x = F.interpolate(x, size=grid, mode="bilinear", align_corners=False, antialias=True)
    return _fit_canvas(x, canvas, encoder.fill).half()


def on_device_or_pinned(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The tensor on ``device`` when it fits there, else in pinned host memory (copied per batch)."""
    if device.type != "cuda":
        return tensor.to(device)
    try:
        return tensor.to(device)
    except torch.cuda.OutOfMemoryError:
        return tensor.pin_memory()


def sample_rows(tensors: list[torch.Tensor], batch_size: int, generator: torch.Generator,
                max_shift: int = 8, device: torch.device | None = None) -> list[torch.Tensor]:
    """The same random rows of each tensor (float32, on ``device``), shifted together by one random in-plane
    translation. Rows of pinned host tensors are copied to the device without blocking."""
    index = host_to_device(torch.randint(tensors[0].shape[0], (batch_size,), generator=generator), tensors[0].device)
    device = device or tensors[0].device
    rows = [t[index].to(device, non_blocking=True).float() for t in tensors]
    if max_shift:
        dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=generator))
        rows = [torch.roll(r, (dy, dx), (2, 3)) for r in rows]
    return rows


class PairedBank(Protocol):
    """What pix2pix trains from: (source, target) batches on a device."""

    channels: int  # source channels

    def to(self, device: torch.device) -> "PairedBank":
        """The bank delivering batches on ``device``."""

    def sample(self, batch_size: int, generator: torch.Generator,
               augmentation: Augmentation = Augmentation()) -> tuple[torch.Tensor, torch.Tensor]:
        """A random (source, target) batch, augmented."""


@dataclass
class SliceBank:
    """Paired slices: network inputs (sources) and targets in [-1, 1], both (N, C, canvas, canvas) fp16."""

    sources: torch.Tensor
    targets: torch.Tensor
    source_kind: str = LABELS  # LABELS or IMAGE: how augmentation treats the sources
    device: torch.device = torch.device("cpu")  # where batches are delivered

    @classmethod
    def from_cases(cls, cases: list[PairedCase], encoder: SourceEncoder, spacing_mm: float, canvas: int,
                   target_window: tuple[float, float]) -> "SliceBank":
        """Every axial slice of the cases: sources encoded, targets in ``target_window`` mapped to [-1, 1]."""
        target_encoder = NormalisedImage(Normalisation("window", low=target_window[0], high=target_window[1]))
        sources = [axial_slices(case.source, encoder, spacing_mm, canvas) for case in cases]
        targets = [axial_slices(case.target, target_encoder, spacing_mm, canvas) for case in cases]
        return cls(torch.cat(sources), torch.cat(targets), encoder.kind)

    def __len__(self) -> int:
        return self.sources.shape[0]

    @property
    def channels(self) -> int:
        return self.sources.shape[1]

    def to(self, device: torch.device) -> "SliceBank":
        """The bank for training on ``device``: held there when it fits, else pinned on the host."""
        return SliceBank(on_device_or_pinned(self.sources, device), on_device_or_pinned(self.targets, device),
                         self.source_kind, device)

    def sample(self, batch_size: int, generator: torch.Generator,
               augmentation: Augmentation = Augmentation()) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch of (source, target) pairs on the bank's device, shifted and augmented together."""
        rows = sample_rows([self.sources, self.targets], batch_size, generator, device=self.device)
        source, target = augmentation(rows, [self.source_kind, TARGET], generator)
        return source, target

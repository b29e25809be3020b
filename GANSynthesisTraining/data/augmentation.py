"""Random per-sample augmentation of training batches, applied on the device in one batched pass: left-right
flips, small rotations and scalings (one affine resampling for all three), intensity jitter of network inputs.

The random numbers come from the trainer's per-step sampler (on the host, so runs are repeatable and resume
exactly) and reach the device in one non-blocking copy: no per-sample Python, no host sync.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F

from GANSynthesisLib.engine.inference import host_to_device

if TYPE_CHECKING:
    from GANSynthesisTraining.loop.trainer import TrainingConfig

LABELS = "labels"  # one-hot label channels: nearest-neighbour resampling, outside the slice is background
IMAGE = "image"  # a network input in [-1, 1]: bilinear, outside is -1, intensity jitter applies
TARGET = "target"  # an image the network must reproduce: bilinear, outside is -1, never jittered
KINDS = (LABELS, IMAGE, TARGET)


@dataclass(frozen=True)
class Augmentation:
    """What to vary per sample; everything off by default (the batch passes through untouched)."""

    flip: bool = False  # mirror left-right with probability ½
    rotation_deg: float = 0.0  # in-plane rotation, uniform in ±rotation_deg
    scaling: float = 0.0  # isotropic zoom, uniform in 1 ± scaling
    intensity_jitter: float = 0.0  # IMAGE inputs: gain 1 ± j about the floor (-1), then offset ± j

    @classmethod
    def from_config(cls, config: TrainingConfig) -> "Augmentation":
        """The augmentation a training config asks for (its ``flip``, ``rotation_deg``, ``scaling``,
        ``intensity_jitter``)."""
        return cls(config.flip, config.rotation_deg, config.scaling, config.intensity_jitter)

    def __post_init__(self) -> None:
        if not 0 <= self.rotation_deg <= 45:
            raise ValueError(f"--rotation-deg {self.rotation_deg} must lie in [0, 45] (small rotations, e.g. 10)")
        if not 0 <= self.scaling < 0.5:
            raise ValueError(f"--scaling {self.scaling} must lie in [0, 0.5) (a relative zoom, e.g. 0.1)")
        if not 0 <= self.intensity_jitter < 0.5:
            raise ValueError(f"--intensity-jitter {self.intensity_jitter} must lie in [0, 0.5) "
                             "(a fraction of the [-1, 1] range, e.g. 0.05)")

    @property
    def geometric(self) -> bool:
        return self.flip or self.rotation_deg > 0 or self.scaling > 0

    @property
    def active(self) -> bool:
        return self.geometric or self.intensity_jitter > 0

    def describe(self) -> str:
        """The augmentation in words, for model cards ("" when off)."""
        settings = ((self.flip, "left-right flips"),
                    (self.rotation_deg, f"rotation within ±{self.rotation_deg:g}°"),
                    (self.scaling, f"zoom within ±{100 * self.scaling:g} %"),
                    (self.intensity_jitter, f"input intensity jitter ±{100 * self.intensity_jitter:g} %"))
        parts = [words for on, words in settings if on]
        return "augmented per sample: " + ", ".join(parts) if parts else ""

    def __call__(self, tensors: Sequence[torch.Tensor], kinds: Sequence[str],
                 generator: torch.Generator) -> list[torch.Tensor]:
        """Batches (B, C, H, W) that belong together (a source and its target), sample i changed by the same
        random transform in each; ``kinds`` says what each tensor holds (LABELS, IMAGE or TARGET)."""
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds {sorted(unknown)}; use {KINDS}")
        if not self.active:
            return list(tensors)
        if self.intensity_jitter > 0 and IMAGE not in kinds:
            raise ValueError("--intensity-jitter changes image inputs, and this model has none (its input is a "
                             "label map, or its images are also its targets); leave --intensity-jitter at 0")
        batch = tensors[0].shape[0]
        draws = host_to_device(torch.rand(batch, 5, generator=generator), tensors[0].device)
        flip, angle, zoom, gain, offset = (2 * draws - 1).unbind(1)  # each uniform in [-1, 1]
        out = list(tensors)
        if self.geometric:
            grid = self._sampling_grid(flip, angle, zoom, out[0].shape)
            out = [_resample(t, grid, kind) for t, kind in zip(out, kinds)]
        if self.intensity_jitter > 0:
            j = self.intensity_jitter
            scale, shift = (1 + j * gain).view(-1, 1, 1, 1), (j * offset).view(-1, 1, 1, 1)
            out = [(t + 1) * scale - 1 + shift if kind == IMAGE else t for t, kind in zip(out, kinds)]
        return out

    def _sampling_grid(self, flip: torch.Tensor, angle: torch.Tensor, zoom: torch.Tensor,
                       shape: torch.Size) -> torch.Tensor:
        """Where each output pixel samples its input (normalised coordinates, as ``F.affine_grid`` gives)."""
        radians = angle * math.radians(self.rotation_deg)
        inverse_zoom = 1 / (1 + self.scaling * zoom)
        mirror = torch.where(flip < 0, -1.0, 1.0) if self.flip else torch.ones_like(flip)
        cos, sin = torch.cos(radians) * inverse_zoom, torch.sin(radians) * inverse_zoom
        zero = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos * mirror, -sin, zero], 1),
                             torch.stack([sin * mirror, cos, zero], 1)], 1)
        return F.affine_grid(theta, (shape[0], 1, shape[2], shape[3]), align_corners=False)


def _resample(batch: torch.Tensor, grid: torch.Tensor, kind: str) -> torch.Tensor:
    """``batch`` sampled at ``grid``; what falls outside it takes the kind's fill (background or -1)."""
    if kind == LABELS:
        # background channel 1, others 0, made on the device (writing fill[0] from Python would sync with it)
        fill = (torch.arange(batch.shape[1], device=batch.device) == 0).to(batch.dtype).view(1, -1, 1, 1)
    else:
        fill = torch.full((1, 1, 1, 1), -1.0, device=batch.device, dtype=batch.dtype)
    mode = "nearest" if kind == LABELS else "bilinear"
    return F.grid_sample(batch - fill, grid, mode=mode, padding_mode="zeros", align_corners=False) + fill

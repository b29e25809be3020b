"""Intensity normalisation recorded in manifests: a window of real units mapped onto [-1, 1]."""

from __future__ import annotations

import torch


def to_unit_range(values: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Map [low, high] linearly onto [-1, 1], clipping outside."""
    return ((values.clamp(low, high) - low) / (high - low)) * 2 - 1


def from_unit_range(values: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Map [-1, 1] back onto [low, high]."""
    return (values + 1) / 2 * (high - low) + low

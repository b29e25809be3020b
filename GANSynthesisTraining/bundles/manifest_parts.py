"""Manifest parts the training commands share: a CT output in a HU window and the axial grid they train on."""

from __future__ import annotations

from GANSynthesisLib.models.manifest import Grid, Normalisation, OutputSpec


def ct_output(window: tuple[float, float], **details: str) -> OutputSpec:
    """CT in HU, mapped back from the network's [-1, 1] onto ``window``."""
    return OutputSpec(modality="CT", units="HU", normalisation=Normalisation("window", low=float(window[0]),
                                                                             high=float(window[1]), range=(-1, 1)),
                      **details)


def axial_grid(spacing: float, canvas: int) -> Grid:
    """Axial slices of ``spacing`` mm pixels, trained on ``canvas``² crops."""
    return Grid((spacing, spacing), plane="axial", in_plane_size=(canvas, canvas))

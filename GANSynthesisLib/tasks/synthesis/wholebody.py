"""Synthesize with a whole-body (label set ``wholebody-v1``) 2.5-D model: label map → classes → packed codes → CT.

The label map may be in the model's own values (from a segmentation node or ``--labels``), in MM-WHS values or in
TotalSegmentator ``total`` numbering (recognised by its values). Each axial slice is given to the network with its
two neighbours (2.5-D) and the flags of the classes given anywhere in the volume, so the model knows whether, say,
an unlabelled voxel is outside the body or merely inside an unsegmented body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ...anatomy.wholebody_classes import (CLASSES, LABEL_SET, MODEL_TABLE, NUMBERINGS, flags_of, given_classes,
                                          invented_regions, pack_codes, pad_channels, recognise_numbering, to_classes,
                                          unpack_codes)
from ...core.errors import GANSynthesisError
from ...core.orientation import axial_view
from ...core.volume import Volume
from ...engine.inference import InferenceOptions, SliceNetwork, model_grid_size, run_translator
from ...engine.unit_range import from_unit_range
from ...models.bundle import ModelBundle
from ...models.bundled_networks import load_network
from .label_values import integer_labels, remap_labels

NUMBERING_NAMES = {"wholebody": "the model's own values", "mmwhs": "MM-WHS values",
                   "totalsegmentator-total": "TotalSegmentator 'total' numbering"}
MMWHS_MODEL_WARNING = ("this model takes only the 7 MM-WHS cardiac structures: the body outline, lungs and bones "
                       "are drawn by the model, not given")


def is_wholebody_bundle(bundle: ModelBundle) -> bool:
    return bundle.manifest.input.label_set == LABEL_SET


@dataclass
class PackedClassTranslator(SliceNetwork):
    """Slice translator: packed class codes (see :func:`label_sets.pack_codes`) → CT in the manifest's window."""

    window: tuple[float, float]

    def encode(self, slices: np.ndarray, device: torch.device) -> torch.Tensor:
        return unpack_codes(torch.from_numpy(np.ascontiguousarray(slices, np.int32)).to(device))

    def pad_values(self) -> torch.Tensor:
        return pad_channels()

    def decode(self, output: torch.Tensor) -> torch.Tensor:
        return from_unit_range(output[:, 0].float(), *self.window)


def packed_translator(bundle: ModelBundle) -> PackedClassTranslator:
    network = load_network(bundle, "generator")
    normalisation = bundle.manifest.output.normalisation
    return PackedClassTranslator(network, tuple(bundle.manifest.grid.in_plane_spacing_mm),
                                 network.size_multiple, (normalisation.low, normalisation.high))


def label_classes(labelmap: Volume, mapping: Mapping[int, int] | None = None) -> tuple[np.ndarray, str]:
    """The label map as a class map (uint8) and the numbering it was read in."""
    array, present = integer_labels(labelmap)
    if mapping:
        return to_classes(remap_labels(array, mapping), MODEL_TABLE), "wholebody"
    numbering = recognise_numbering(present)
    if numbering is None:
        raise GANSynthesisError(
            f"The label values ({', '.join(map(str, present[:12]))}) are neither TotalSegmentator 'total' numbering "
            "(1–117), MM-WHS values (205–850) nor the model's own; map yours with --labels "
            "'heart=1,lung=10,bone=11,body=12,...' (TotalSegmentator names, MM-WHS names or coarse names).")
    return to_classes(array, NUMBERINGS[numbering]), numbering


def nearest_indices(size: int, grid: int) -> np.ndarray:
    """For each of ``grid`` pixels covering the same extent as ``size`` pixels, the nearest source pixel."""
    return np.clip(np.floor((np.arange(grid) + 0.5) * size / grid), 0, size - 1).astype(np.intp)


def model_grid_classes(classes_axial: np.ndarray, spacing_kji, model_spacing) -> np.ndarray:
    """An axial class map resampled in-plane to the model's spacing by nearest neighbour (as in training)."""
    _, rows, cols = classes_axial.shape
    grid = (model_grid_size(rows, spacing_kji[1], model_spacing[0]), model_grid_size(cols, spacing_kji[2],
                                                                                    model_spacing[1]))
    return classes_axial[:, nearest_indices(rows, grid[0])][:, :, nearest_indices(cols, grid[1])]


def resample_back(values: np.ndarray, shape: tuple[int, int], threads: int | None = None) -> np.ndarray:
    """(k, h, w) model-grid values → (k, rows, cols), bilinear (as the slice engine resamples its output back)."""
    if values.shape[1:] == tuple(shape):
        return values
    out = np.empty((values.shape[0], *shape), np.float32)
    for start in range(0, values.shape[0], 16):
        part = torch.from_numpy(values[start:start + 16])[:, None]
        out[start:start + 16] = F.interpolate(part, size=shape, mode="bilinear", align_corners=False)[:, 0].numpy()
    return out


def taken_classes(classes: np.ndarray, bundle: ModelBundle) -> tuple[np.ndarray, list[str]]:
    """The class map with the classes the model does not take (a cardiac model takes only the heart's) left out,
    and a warning naming them (none when it takes them all)."""
    taken = set(bundle.manifest.input.labels)
    left_out = sorted(given_classes(classes) - taken)
    if not left_out:
        return classes, []
    keep = np.array([index == 0 or name in taken for index, name in enumerate(CLASSES)])
    return np.where(keep[classes], classes, np.uint8(0)), [
        f"this model takes only {', '.join(bundle.manifest.input.labels)}: left out {', '.join(left_out)} (a "
        "whole-body model takes them)"]


def synthesize_wholebody(labelmap: Volume, bundle: ModelBundle, mapping: Mapping[int, int] | None = None,
                         options: InferenceOptions | None = None) -> tuple[Volume, list[str], np.ndarray]:
    """A synthetic CT (HU, float32) on the label map's grid, the warnings about what the model left out or had to
    invent, and the class map it was made from (on the label map's grid).

    The classes are resampled to the model grid by nearest neighbour and packed with their neighbours and flags
    there (cheap, and as in training); the engine runs on that grid and the CT is resampled back bilinearly.
    """
    classes, _numbering = label_classes(labelmap, mapping)
    classes, warnings = taken_classes(classes, bundle)
    if not classes.any():
        raise GANSynthesisError(f"None of the input's labels is a structure the model {bundle.name} takes "
                                f"({', '.join(bundle.manifest.input.labels)}).")
    given = given_classes(classes)
    view = axial_view(labelmap)
    translator = packed_translator(bundle)
    axial = model_grid_classes(np.ascontiguousarray(view.forward(classes)), view.spacing_kji,
                               translator.in_plane_spacing)
    rows, cols = view.forward(classes).shape[1:]
    sk, sj, si = view.spacing_kji
    model_spacing = (si * cols / axial.shape[2], sj * rows / axial.shape[1], sk)  # (x, y, z), same extent
    codes = pack_codes(axial, flags_of(given))
    on_grid = Volume(codes, spacing=model_spacing, origin=(0.0, 0.0, 0.0), direction=np.eye(3))
    ct = run_translator(translator, on_grid, options).array
    ct = resample_back(ct, (rows, cols))
    return labelmap.with_array(np.ascontiguousarray(view.backward(ct))), warnings + invented_regions(given), classes

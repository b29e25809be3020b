"""Synthesize: a label map (e.g. MM-WHS cardiac structures) in, a synthetic CT volume (HU) out."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from ...core.errors import GANSynthesisError
from ...core.volume import Volume
from ...engine.inference import InferenceOptions, host_to_device, run_translator
from ...engine.unit_range import from_unit_range
from ...models.bundle import ModelBundle
from ...models.bundled_networks import load_network
from .label_values import integer_labels, remap_labels
from .wholebody import synthesize_wholebody


def model_labels(bundle: ModelBundle) -> dict[str, int]:
    """The model's label names → label values, background excluded, in channel order."""
    return dict(bundle.manifest.input.labels)


def label_lookup(label_values: list[int], length: int | None = None) -> np.ndarray:
    """Lookup table: label value → channel (uint8, 0 = background) for the values below ``length`` (default: up
    to the largest label)."""
    table = np.zeros(length or max(label_values) + 1, np.uint8)
    for channel, value in enumerate(label_values, start=1):
        if value < len(table):
            table[value] = channel
    return table


@functools.lru_cache(maxsize=8)
def _whole_type_lookup(label_values: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    """For 8- and 16-bit unsigned labels, a read-only lookup table over every value the type holds (one gather
    maps a whole array); None for other types."""
    if dtype not in (np.uint8, np.uint16):
        return None
    table = label_lookup(list(label_values), np.iinfo(dtype).max + 1)
    table.flags.writeable = False
    return table


def labels_to_channels(labels: np.ndarray, label_values: list[int]) -> np.ndarray:
    """Label values → uint8 channel indices (0 background); values the model does not know become 0."""
    table = _whole_type_lookup(tuple(label_values), labels.dtype)
    if table is not None:
        return table[labels]
    table = label_lookup(label_values)
    inside = (labels >= 0) & (labels < len(table))
    return np.where(inside, table[np.clip(labels, 0, len(table) - 1)], np.uint8(0))


def one_hot_labels(slices: np.ndarray, label_values: list[int], device: torch.device) -> torch.Tensor:
    """(B, H, W) label values → (B, 1 + labels, H, W) float one-hot channels (background first) on ``device``.

    On a GPU, 8- and 16-bit label values are looked up there (the host only copies them)."""
    table = _whole_type_lookup(tuple(label_values), slices.dtype) if device.type == "cuda" else None
    if table is not None:
        codes = host_to_device(torch.from_numpy(slices.view(np.int16) if slices.dtype == np.uint16 else slices),
                               device).int() & 0xFFFF
        channels = host_to_device(torch.from_numpy(table.copy()), device)[codes].long()
    else:
        channels = host_to_device(torch.from_numpy(labels_to_channels(slices, label_values)), device).long()
    onehot = torch.zeros((channels.shape[0], len(label_values) + 1, *channels.shape[1:]), device=device)
    return onehot.scatter_(1, channels[:, None], 1.0)


@dataclass
class LabelToImageTranslator:
    """Slice translator: one-hot label channels → image in the manifest's output window."""

    network: torch.nn.Module
    label_values: list[int]
    in_plane_spacing: tuple[float, float]
    size_multiple: int
    window: tuple[float, float]

    def encode(self, slices: np.ndarray, device: torch.device) -> torch.Tensor:
        return one_hot_labels(slices, self.label_values, device)

    def pad_values(self) -> torch.Tensor:
        values = torch.zeros(len(self.label_values) + 1)
        values[0] = 1.0
        return values

    def decode(self, output: torch.Tensor) -> torch.Tensor:
        return from_unit_range(output[:, 0].float(), *self.window)


def translator_for(bundle: ModelBundle) -> LabelToImageTranslator:
    """The slice translator of a synthesis bundle, weights verified and loaded."""
    network = load_network(bundle, "generator")
    normalisation = bundle.manifest.output.normalisation
    return LabelToImageTranslator(
        network=network,
        label_values=list(model_labels(bundle).values()),
        in_plane_spacing=tuple(bundle.manifest.grid.in_plane_spacing_mm),
        size_multiple=network.size_multiple,
        window=(normalisation.low, normalisation.high),
    )


def prepare_labelmap(labelmap: Volume, bundle: ModelBundle, mapping: Mapping[int, int] | None = None) -> Volume:
    """The label map in the model's label values (uint16 where they fit), or a clear error when it cannot be used.

    ``mapping`` sends input label values to model label values; unmapped values are kept as they are.
    """
    array, present = integer_labels(labelmap)
    if mapping:
        array = remap_labels(array, mapping)
    labels = model_labels(bundle)
    if not set(labels.values()).intersection(mapping.get(v, v) if mapping else v for v in present):
        described = ", ".join(f"{name}={value}" for name, value in labels.items())
        raise GANSynthesisError(
            f"None of the label values in the input ({', '.join(map(str, present[:12]))}) is one the model "
            f"{bundle.name} knows ({described}). Map yours with --labels 'left ventricle=1,myocardium=2,...'."
        )
    return labelmap.with_array(array)


def synthesize(labelmap: Volume, bundle: ModelBundle, mapping: Mapping[int, int] | None = None,
               options: InferenceOptions | None = None) -> Volume:
    """A synthetic CT (HU, float32) on the label map's grid."""
    if bundle.task != "synthesize":
        raise GANSynthesisError(f"Model {bundle.name} is a {bundle.task} model, not a synthesize model.")
    if bundle.manifest.input.label_set:  # whole-body label set (2.5-D): see wholebody.py
        return synthesize_wholebody(labelmap, bundle, mapping, options)[0]
    prepared = prepare_labelmap(labelmap, bundle, mapping)
    return run_translator(translator_for(bundle), prepared, options)

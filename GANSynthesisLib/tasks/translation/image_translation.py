"""Translate: a scalar volume (MR, low-dose CT, …) in, the same anatomy in another modality out; the input is
checked against the model's training data first (:mod:`..engine.input_checks`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...core.errors import GANSynthesisError
from ...core.volume import Volume
from ...engine.inference import InferenceOptions, SliceNetwork, host_to_device, run_translator
from ...engine.input_checks import input_range, input_warnings
from ...engine.unit_range import from_unit_range, to_unit_range
from ...models.bundle import ModelBundle
from ...models.bundled_networks import load_network


@dataclass
class ImageTranslator(SliceNetwork):
    """Slice translator: one normalised image channel → image in the manifest's output window."""

    input_window: tuple[float, float]
    output_window: tuple[float, float]

    def encode(self, slices: np.ndarray, device: torch.device) -> torch.Tensor:
        return to_unit_range(host_to_device(torch.from_numpy(slices), device).float(), *self.input_window)[:, None]

    def pad_values(self) -> torch.Tensor:
        return torch.tensor([-1.0])

    def decode(self, output: torch.Tensor) -> torch.Tensor:
        return from_unit_range(output[:, 0].float(), *self.output_window)


def image_translator(bundle: ModelBundle, network: torch.nn.Module, input_window: tuple[float, float]) -> ImageTranslator:
    """The slice translator of a translation bundle for an input with ``input_window``."""
    output = bundle.manifest.output.normalisation
    return ImageTranslator(network, tuple(bundle.manifest.grid.in_plane_spacing_mm), network.size_multiple,
                           input_window, (float(output.low), float(output.high)))


def translate(volume: Volume, bundle: ModelBundle, options: InferenceOptions | None = None) -> tuple[Volume, list[str]]:
    """The volume in the model's output modality (float32, same grid) and any warnings about the input."""
    if bundle.task != "translate":
        raise GANSynthesisError(f"Model {bundle.name} is a {bundle.task} model, not a translate model.")
    array = volume.array
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise GANSynthesisError("The input volume holds non-finite values (NaN or infinity); fix or mask them first.")
    warnings = input_warnings(volume, bundle)
    window = input_range(array, bundle.manifest.input.normalisation)
    translator = image_translator(bundle, load_network(bundle, "generator"), window)
    return run_translator(translator, volume.with_array(array.astype(np.float32, copy=False)), options), warnings

"""The translate task: a scalar volume (MR, low-dose CT, …) in, the same anatomy in the model's output modality out."""

from __future__ import annotations

from typing import Any

from ...core.volume import Volume
from ...models.bundle import ModelBundle
from ...models.manifest import Manifest
from ..spec import TaskResult, TaskSpec


def run(volume: Volume, bundle: ModelBundle, inputs: dict[str, Any], options) -> TaskResult:
    from .image_translation import translate

    return TaskResult(*translate(volume, bundle, options))


def sample_input(manifest: Manifest) -> tuple[str, str] | None:
    """The heart phantom's volume in the model's input modality (MR, CT or low-dose CT)."""
    modality = (manifest.input.modality or "").lower()
    role = "mr" if modality.startswith("mr") else "ct_low_dose" if "low dose" in modality else \
        "ct" if modality == "ct" else None
    return ("GAN heart phantom", role) if role else None


TRANSLATE = TaskSpec(
    name="translate", title="Translate a volume to another modality",
    command_help="volume → the same anatomy in another modality (MR → CT, low-dose → normal-dose CT)",
    input_kind="scalar", output_display="ct", run=run, sample_input=sample_input)

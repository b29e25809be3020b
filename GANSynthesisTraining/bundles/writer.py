"""The one way training writes a bundle: the networks' weights (fp16 safetensors) and architecture, the typed
manifest with the date and the held-out figure, and the model card beside them."""

from __future__ import annotations

import datetime
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from GANSynthesisLib.models.bundle import ModelBundle, save_bundle
from GANSynthesisLib.models.bundled_networks import load_network
from GANSynthesisLib.models.manifest import Manifest
from GANSynthesisLib.models.networks import network_spec

FIGURE = "held_out.png"


def _with_figure(folder: Path, manifest: Manifest, figure: Path | None) -> Manifest:
    if figure is None:
        return manifest
    shutil.copyfile(figure, folder / FIGURE)
    return replace(manifest, extra=manifest.extra | {"figure": FIGURE})


def write_bundle(folder: Path, manifest: Manifest, networks: dict[str, torch.nn.Module],
                 card: Callable[[Manifest], str], figure: Path | None = None) -> ModelBundle:
    """``folder`` as a bundle of ``networks`` described by ``manifest``, with ``card(manifest)`` as README.md and
    ``figure`` as its held-out picture."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = replace(manifest, architecture={part: network_spec(network) for part, network in networks.items()},
                       extra=manifest.extra | {"created": datetime.date.today().isoformat()})
    manifest = _with_figure(folder, manifest, figure)
    bundle = save_bundle(folder, manifest, {part: network.state_dict() for part, network in networks.items()})
    (folder / "README.md").write_text(card(bundle.manifest))
    return bundle


def update_bundle(bundle: ModelBundle, manifest: Manifest, card: Callable[[Manifest], str],
                  figure: Path | None = None) -> ModelBundle:
    """The bundle's own networks written again with a new manifest (e.g. held-out metrics added after export),
    figure and model card."""
    networks = {part: load_network(bundle, part) for part in bundle.manifest.architecture}
    return write_bundle(bundle.path, manifest, networks, card, figure)

"""A bundle's networks, built from its manifest and loaded with its verified weights."""

from __future__ import annotations

from torch import nn

from ..core.errors import GANSynthesisError
from .bundle import ModelBundle
from .networks import build_network


def load_network(bundle: ModelBundle, part: str = "generator") -> nn.Module:
    """A bundle's network with its verified weights, in eval mode on the CPU."""
    specs = bundle.manifest.architecture
    if part not in specs:
        raise GANSynthesisError(f"Model {bundle.name} describes no {part!r} network.")
    network = build_network(specs[part])
    network.load_state_dict(bundle.load_weights(part))
    return network.eval()

"""Networks named in bundle manifests, built and loaded with their bundled weights."""

from __future__ import annotations

from torch import nn

from .bundle import ModelBundle
from .errors import GANSynthesisError
from .networks import (Critic, ErrorScaleNetwork, InpaintingGenerator, LatentEncoder, LatentGenerator,
                       PatchDiscriminator, ResidualGenerator, ResnetGenerator, UNetGenerator)

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "UNetGenerator": UNetGenerator,
    "ResnetGenerator": ResnetGenerator,
    "ResidualGenerator": ResidualGenerator,
    "InpaintingGenerator": InpaintingGenerator,
    "ErrorScaleNetwork": ErrorScaleNetwork,
    "PatchDiscriminator": PatchDiscriminator,
    "LatentGenerator": LatentGenerator,
    "Critic": Critic,
    "LatentEncoder": LatentEncoder,
}


def build_network(spec: dict) -> nn.Module:
    """An untrained network from {'type': name, **config}."""
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in ARCHITECTURES:
        raise GANSynthesisError(f"Unknown architecture {kind!r}; this version knows {', '.join(ARCHITECTURES)}.")
    return ARCHITECTURES[kind](**spec)


def network_spec(network: nn.Module) -> dict:
    """The {'type': ..., **config} that rebuilds ``network``."""
    return {"type": type(network).__name__, **network.config}


def load_network(bundle: ModelBundle, part: str = "generator") -> nn.Module:
    """A bundle's network with its verified weights, in eval mode on the CPU."""
    specs = bundle.manifest["architecture"]
    if part not in specs:
        raise GANSynthesisError(f"Model {bundle.name} describes no {part!r} network.")
    network = build_network(specs[part])
    network.load_state_dict(bundle.load_weights(part))
    return network.eval()

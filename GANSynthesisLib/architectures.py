"""Networks named in bundle manifests, built and loaded with their bundled weights."""

from __future__ import annotations

import torch
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
    try:
        return ARCHITECTURES[kind](**spec)
    except (TypeError, ValueError, RuntimeError) as error:
        raise GANSynthesisError(f"Cannot build a {kind} from the arguments {spec}: {error}.") from error


def check_weights_fit(bundle: ModelBundle, shapes: dict[str, dict[str, tuple[int, ...]]]) -> None:
    """Refuse a bundle whose networks cannot be built from their manifest arguments or whose weights (tensor name
    → shape, per part) do not fit them; builds on the meta device, so nothing is allocated."""
    for part, tensors in shapes.items():
        if part not in bundle.manifest["architecture"]:
            raise GANSynthesisError(f"Model {bundle.name} has {part!r} weights but no architecture for them; fix "
                                    "model.json or re-export the bundle.")
        with torch.device("meta"):
            expected = {name: tuple(t.shape) for name, t in build_network(bundle.manifest["architecture"][part])
                        .state_dict().items()}
        if expected != tensors:
            wrong = sorted(set(expected) ^ set(tensors)) or sorted(n for n in expected if expected[n] != tensors[n])
            raise GANSynthesisError(f"The {part!r} weights of model {bundle.name} do not fit its architecture "
                                    f"({len(wrong)} tensors missing, extra or of another shape, e.g. {wrong[0]}); "
                                    "the weights belong to another network. Re-export the bundle.")


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

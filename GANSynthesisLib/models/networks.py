"""2-D networks: pix2pix U-Net/ResNet generators and PatchGAN; f-AnoGAN latent generator, critic and encoder."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..core.errors import GANSynthesisError

NORMS = ("batch", "instance", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"Unknown norm {kind!r}; use one of {NORMS}")


class UNetGenerator(nn.Module):
    """pix2pix U-Net: ``depth`` stride-2 4×4 convolutions down, transposed convolutions up, skip links.

    Input height and width must be multiples of 2**depth. Output in [-1, 1] (tanh).
    """

    def __init__(self, in_channels: int, out_channels: int = 1, base_width: int = 64, depth: int = 8,
                 max_width: int = 512, norm: str = "batch", dropout: float = 0.5, dropout_blocks: int = 3) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError("U-Net depth must be at least 2")
        self.config: dict[str, Any] = dict(in_channels=in_channels, out_channels=out_channels, base_width=base_width,
                                           depth=depth, max_width=max_width, norm=norm, dropout=dropout,
                                           dropout_blocks=dropout_blocks)
        widths = [min(base_width * 2**level, max_width) for level in range(depth)]
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for level in range(depth):
            conv = nn.Conv2d(in_channels if level == 0 else widths[level - 1], widths[level], 4, 2, 1,
                             bias=norm != "batch" or level in (0, depth - 1))
            if level == 0:
                self.down.append(conv)
            else:
                innermost = level == depth - 1
                self.down.append(nn.Sequential(nn.LeakyReLU(0.2, True), conv,
                                               nn.Identity() if innermost else _norm(norm, widths[level])))
        for level in reversed(range(depth)):
            innermost, outermost = level == depth - 1, level == 0
            in_width = widths[level] if innermost else 2 * widths[level]
            if outermost:
                self.up.append(nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(in_width, out_channels, 4, 2, 1), nn.Tanh()))
                continue
            layers = [nn.ReLU(True), nn.ConvTranspose2d(in_width, widths[level - 1], 4, 2, 1, bias=norm != "batch"),
                      _norm(norm, widths[level - 1])]
            if dropout > 0 and (depth - 1 - level) < dropout_blocks and not innermost:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    @property
    def size_multiple(self) -> int:
        """Height and width of the input must be multiples of this."""
        return 2 ** self.config["depth"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            x = block(x)
            if skips:
                x = torch.cat([x, skips.pop()], dim=1)
        return x


class _ResidualBlock(nn.Module):
    def __init__(self, width: int, norm: str, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=norm != "batch"),
                                   _norm(norm, width), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=norm != "batch"), _norm(norm, width)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN/pix2pix ResNet generator: 7×7 stem, stride-2 downsampling, residual blocks, upsampling, tanh.

    Input height and width must be multiples of 2**n_downsampling. Output in [-1, 1].
    """

    def __init__(self, in_channels: int, out_channels: int = 1, base_width: int = 64, n_blocks: int = 9,
                 n_downsampling: int = 2, norm: str = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(in_channels=in_channels, out_channels=out_channels, base_width=base_width,
                                           n_blocks=n_blocks, n_downsampling=n_downsampling, norm=norm, dropout=dropout)
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, base_width, 7, bias=bias),
                                   _norm(norm, base_width), nn.ReLU(True)]
        width = base_width
        for _ in range(n_downsampling):
            layers += [nn.Conv2d(width, width * 2, 3, 2, 1, bias=bias), _norm(norm, width * 2), nn.ReLU(True)]
            width *= 2
        layers += [_ResidualBlock(width, norm, dropout) for _ in range(n_blocks)]
        for _ in range(n_downsampling):
            layers += [nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1, bias=bias),
                       _norm(norm, width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    @property
    def size_multiple(self) -> int:
        """Height and width of the input must be multiples of this."""
        return 2 ** self.config["n_downsampling"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class WrappedGenerator(nn.Module):
    """A generator built around ``inner``, a generator config ({'type': ..., ...}) stored in its own config."""

    def __init__(self, inner: dict, **settings: Any) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(inner=dict(inner), **settings)
        self.inner = build_network(inner)

    @property
    def size_multiple(self) -> int:
        return self.inner.size_multiple


class ResidualGenerator(WrappedGenerator):
    """input + scale · inner(input), clipped to [-1, 1]: a generator that corrects its (one-channel) input
    instead of redrawing it, as denoisers should."""

    def __init__(self, inner: dict, scale: float = 0.2) -> None:
        super().__init__(inner, scale=scale)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, :1] + self.scale * self.inner(x)).clamp(-1, 1)


class InpaintingGenerator(WrappedGenerator):
    """Fills the hole of a (tile, hole mask) input: the tile is kept outside the hole and ``inner`` (two input
    channels) draws only inside it, so every loss on its output is a loss on the fill."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image, hole = x[:, :1], x[:, 1:2]
        return image * (1 - hole) + hole * self.inner(x).to(image.dtype)


class ErrorScaleNetwork(WrappedGenerator):
    """How far off an inpainting is expected to be: (tile with its hole blanked, hole mask, fill) → per pixel the
    log of the Laplace scale σ̂ of the residual x − fill (normalised intensity units), within ``log_scale_range``."""

    log_scale_range = (-7.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.log_scale_range
        return low + (high - low) * (self.inner(x) + 1) / 2


class PatchDiscriminator(nn.Module):
    """PatchGAN: a map of real/fake logits, one per overlapping patch (70×70 for n_layers=3).

    Conditional use: pass the condition (e.g. one-hot mask) and the image concatenated on channels.
    """

    def __init__(self, in_channels: int, base_width: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(in_channels=in_channels, base_width=base_width, n_layers=n_layers, norm=norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, base_width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = base_width
        for layer in range(1, n_layers + 1):
            new_width = base_width * min(2**layer, 8)
            stride = 2 if layer < n_layers else 1
            layers += [nn.Conv2d(width, new_width, 4, stride, 1, bias=norm != "batch"), _norm(norm, new_width),
                       nn.LeakyReLU(0.2, True)]
            width = new_width
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LatentGenerator(nn.Module):
    """DCGAN-style generator: latent vector (B, latent_dim) → image (B, 1, tile, tile) in [-1, 1] (tanh)."""

    def __init__(self, latent_dim: int = 128, tile: int = 64, base_width: int = 32, max_width: int = 256) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(latent_dim=latent_dim, tile=tile, base_width=base_width, max_width=max_width)
        levels = _levels(tile)
        widths = [min(base_width * 2**level, max_width) for level in range(levels)]  # finest first
        self.start_width = widths[-1]
        self.project = nn.Linear(latent_dim, widths[-1] * 16)
        layers: list[nn.Module] = [nn.BatchNorm2d(widths[-1]), nn.ReLU(True)]
        for level in reversed(range(1, levels)):
            layers += [nn.ConvTranspose2d(widths[level], widths[level - 1], 4, 2, 1, bias=False),
                       nn.BatchNorm2d(widths[level - 1]), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[0], 1, 4, 2, 1), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(self.project(z).view(z.shape[0], self.start_width, 4, 4))


class _DownsamplingTrunk(nn.Module):
    """Stride-2 4×4 convolutions with LeakyReLU from (B, 1, tile, tile) down to 4×4 (no normalisation, so
    the WGAN-GP penalty stays per sample)."""

    def __init__(self, tile: int, base_width: int, max_width: int) -> None:
        super().__init__()
        levels = _levels(tile)
        widths = [min(base_width * 2**level, max_width) for level in range(levels)]
        layers: list[nn.Module] = []
        for level, width in enumerate(widths):
            layers += [nn.Conv2d(1 if level == 0 else widths[level - 1], width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        self.model = nn.Sequential(*layers)
        self.features = widths[-1] * 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).flatten(1)


class Critic(nn.Module):
    """WGAN critic on tiles: a score per image; ``features`` gives the last convolutional features (f-AnoGAN's f)."""

    def __init__(self, tile: int = 64, base_width: int = 32, max_width: int = 256) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(tile=tile, base_width=base_width, max_width=max_width)
        self.trunk = _DownsamplingTrunk(tile, base_width, max_width)
        self.head = nn.Linear(self.trunk.features, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


class LatentEncoder(nn.Module):
    """f-AnoGAN encoder: tile → latent vector in (-1, 1) (tanh), the generator's latent range."""

    def __init__(self, latent_dim: int = 128, tile: int = 64, base_width: int = 32, max_width: int = 256) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(latent_dim=latent_dim, tile=tile, base_width=base_width, max_width=max_width)
        self.trunk = _DownsamplingTrunk(tile, base_width, max_width)
        self.head = nn.Sequential(nn.Linear(self.trunk.features, latent_dim), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def _levels(tile: int) -> int:
    """Stride-2 steps between a 4×4 map and a tile × tile image."""
    levels = int(round(math.log2(tile / 4)))
    if levels < 1 or 4 * 2**levels != tile:
        raise ValueError(f"tile must be 4·2^n pixels (8, 16, 32, 64, 128 …), not {tile}")
    return levels


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (frozen ones included)."""
    return sum(p.numel() for p in module.parameters())


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


def network_spec(network: nn.Module) -> dict:
    """The {'type': ..., **config} that rebuilds ``network``."""
    return {"type": type(network).__name__, **network.config}

"""Anomaly heatmaps: what a GAN trained on normal anatomy cannot reconstruct is suspicious.

Every axial slice is resampled to the model's spacing and scored by one of two methods:

- **f-AnoGAN** (Schlegl et al. 2019): overlapping tiles x are encoded and regenerated, x̂ = G(E(x)); a
  tile's score is mean squared image residual + κ · mean squared critic-feature residual.
- **inpainting**: a conditional GAN fills each small square from the tile of context around it, so x̂
  there is the normal anatomy the surroundings imply; a square's score is its mean squared residual. With an
  error-scale network the residual is divided, pixel by pixel, by the error the model expects there (large at
  bone edges, the body outline and vessels, small inside homogeneous tissue). The grid of squares may be laid
  several times, shifted; each pixel keeps its best explanation
  (or, with ``shift_pooling`` "mean", their average).

The heatmap is |x − x̂| after smoothing the signed difference (a lesion is a region consistently brighter
or darker than its explanation; unpredictable texture averages out), kept inside the body, in [0, 1]. Without
an error scale its unit is the fraction of the model's intensity window (0.1 on a CT model with a 2000 HU
window means about 200 HU away from the normal explanation); with one it is z / (z + 10), z being the residual
in units of the expected error (0.5: ten times the expected error). A bundle may add intensity evidence: each
voxel's surprise in context and the surprise of its intensity alone (how rare it is in normal bodies) beyond a
floor, each judged against normal anatomy (:mod:`.surprise`), are summed into S, the heat is S / (S + 6), and a
slice's score is its highest S (3: as unusual as one normal voxel in a thousand). Otherwise a slice's score is
the highest square or tile score over its body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ...core.errors import GANSynthesisError
from ...core.orientation import axial_view
from ...core.regions import largest_region
from ...core.volume import Volume
from ...engine.inference import InferenceOptions, host_to_device, run_slice_model
from ...engine.input_checks import input_range, input_warnings
from ...engine.unit_range import to_unit_range
from ...models.bundle import ModelBundle
from ...models.bundled_networks import load_network
from .intensity_rarity import intensity_rarity
from .surprise import HALF_HEAT_SURPRISE, heat_from_surprise, joint_surprise
from .tissue_kinds import kind_masks, kind_surprise, smoothed_rarity
from .thresholds import resolve_threshold

DEFAULT_STRIDE_FRACTION = 0.5  # tiles overlap by half
HALF_HEAT_Z = 10.0  # a residual this many expected errors away maps to heat 0.5


class AnomalyScorer(torch.nn.Module):
    """(B, 1, H, W) normalised slices → (B, 2, H, W): per-pixel x − G(E(x)) and the covering tiles' scores."""

    def __init__(self, generator: torch.nn.Module, encoder: torch.nn.Module, critic: torch.nn.Module,
                 kappa: float = 1.0, stride_fraction: float = DEFAULT_STRIDE_FRACTION) -> None:
        super().__init__()
        self.generator, self.encoder, self.critic, self.kappa = generator, encoder, critic, kappa
        self.tile = int(generator.config["tile"])
        self.stride = max(1, int(round(self.tile * stride_fraction)))
        # Tiles are blended with a window that fades towards their borders (no seams), never to zero.
        ramp = torch.hann_window(self.tile + 2, periodic=False)[1:-1].clamp_min(0.05)
        self.register_buffer("window", (ramp[:, None] * ramp[None, :]).reshape(1, -1, 1), persistent=False)

    size_multiple = 1  # the scorer pads to whole tiles itself

    def _padded_size(self, size: int) -> int:
        return self.tile + max(0, -(-(size - self.tile) // self.stride)) * self.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        full = (self._padded_size(height), self._padded_size(width))
        x = F.pad(x, (0, full[1] - width, 0, full[0] - height), value=-1.0)
        columns = F.unfold(x, self.tile, stride=self.stride)  # (B, tile², L)
        count = columns.shape[-1]
        tiles = columns.transpose(1, 2).reshape(batch * count, 1, self.tile, self.tile)
        rebuilt = self.generator(self.encoder(tiles)).to(tiles.dtype)
        residual = tiles - rebuilt
        image_term = (residual.float() ** 2).flatten(1).mean(1)
        feature_term = ((self.critic.features(tiles) - self.critic.features(rebuilt)).float() ** 2).mean(1)
        scores = (image_term + self.kappa * feature_term).view(batch, 1, count)
        window = self.window.to(residual.dtype)
        residual_columns = residual.reshape(batch, count, -1).transpose(1, 2) * window
        score_columns = scores.to(window.dtype) * window
        weight = F.fold(window.expand(batch, -1, count), full, self.tile, stride=self.stride)
        maps = torch.cat([F.fold(residual_columns, full, self.tile, stride=self.stride),
                          F.fold(score_columns, full, self.tile, stride=self.stride)], 1) / weight
        return maps[:, :, :height, :width]


def inpainting_input(tiles: torch.Tensor, hole: int) -> torch.Tensor:
    """(N, 1, t, t) tiles → (N, 2, t, t): the tile with its central hole × hole square blanked (0), and the hole mask."""
    tile = tiles.shape[-1]
    start = (tile - hole) // 2
    mask = torch.zeros_like(tiles)
    mask[..., start:start + hole, start:start + hole] = 1
    return torch.cat([tiles * (1 - mask), mask], 1)


class InpaintingScorer(torch.nn.Module):
    """(B, 1, H, W) normalised slices → (B, 2, H, W): every pixel's x − x̂, where x̂ is the generator's
    inpainting of the hole × hole square around it from the tile of context about it, divided by the expected
    error σ̂ there when an ``error_scale`` network is given; and each square's mean squared (scaled) residual.
    The squares tile the slice exactly, so each pixel is predicted, never seen.

    With ``grid_shifts`` n > 1 the grid of squares is laid n × n times, shifted by hole / n along each axis. With
    ``pooling`` "best" each pixel keeps its smallest residual (and score): a normal structure that only its own
    square hides (a rib inside one square) is explained by a grid whose square edge crosses it. With "mean" the
    grids' residuals and scores are averaged: a lesion larger than the square cannot explain itself from the grid
    whose square lies inside it."""

    size_multiple = 1  # the scorer pads to whole squares itself

    def __init__(self, generator: torch.nn.Module, tile: int, hole: int, error_scale: torch.nn.Module | None = None,
                 grid_shifts: int = 1, chunk: int = 256, pooling: str = "best") -> None:
        super().__init__()
        if (tile - hole) % 2 or hole >= tile:
            raise ValueError(f"the hole ({hole}) must be smaller than the tile ({tile}) and centred in it")
        if not 1 <= grid_shifts <= hole:
            raise ValueError(f"grid_shifts must lie in 1…{hole} (the hole size); got {grid_shifts}")
        self.generator, self.error_scale, self.tile, self.hole, self.chunk = generator, error_scale, tile, hole, chunk
        self.offsets = [round(index * hole / grid_shifts) for index in range(grid_shifts)]
        self.pooling = pooling

    def _residual(self, tiles: torch.Tensor) -> torch.Tensor:
        """The whole tiles' x − x̂ (over σ̂ with an error scale); only the hole is meaningful."""
        inputs = inpainting_input(tiles, self.hole)
        fill = self.generator(inputs).to(tiles.dtype)
        if self.error_scale is None:
            return tiles - fill
        return (tiles - fill) * torch.exp(-self.error_scale(torch.cat([inputs, fill], 1)).to(tiles.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pooled: torch.Tensor | None = None
        for top in self.offsets:
            for left in self.offsets:
                shifted = F.pad(x, (left, 0, top, 0), value=-1.0)
                maps = self._grid_maps(shifted)[:, :, top:top + height, left:left + width]
                if pooled is None:
                    pooled = maps
                    continue
                if self.pooling == "mean":
                    pooled = pooled + maps
                    continue
                closer = maps[:, :1].abs() < pooled[:, :1].abs()
                pooled = torch.cat([torch.where(closer, maps[:, :1], pooled[:, :1]),
                                    torch.minimum(maps[:, 1:], pooled[:, 1:])], 1)
        return pooled / len(self.offsets) ** 2 if self.pooling == "mean" else pooled

    def _grid_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Residual and score maps of one grid of squares starting at the slice's top left corner."""
        batch, _, height, width = x.shape
        margin, hole = (self.tile - self.hole) // 2, self.hole
        rows, cols = -(-height // hole) * hole, -(-width // hole) * hole
        padded = F.pad(x, (margin, margin + cols - width, margin, margin + rows - height), value=-1.0)
        tiles = F.unfold(padded, self.tile, stride=hole)  # (B, tile², L)
        count = tiles.shape[-1]
        tiles = tiles.transpose(1, 2).reshape(batch * count, 1, self.tile, self.tile)
        centre = slice(margin, margin + hole)
        residual = torch.cat([self._residual(part)[..., centre, centre] for part in tiles.split(self.chunk)])
        scores = (residual.float() ** 2).flatten(1).mean(1, keepdim=True).expand(-1, hole * hole)
        columns = torch.stack([residual.flatten(1).float(), scores], 1)  # (B·L, 2, hole²)
        columns = columns.view(batch, count, 2 * hole * hole).transpose(1, 2)
        maps = F.fold(columns, (rows, cols), hole, stride=hole)
        return maps[:, :, :height, :width]


@dataclass
class AnomalySliceModel:
    """The engine's view of an anomaly bundle: normalised slice in, residual and score maps out."""

    network: torch.nn.Module
    in_plane_spacing: tuple[float, float]
    input_window: tuple[float, float]
    size_multiple: int = 1

    def encode(self, slices: np.ndarray, device: torch.device) -> torch.Tensor:
        return to_unit_range(host_to_device(torch.from_numpy(slices), device).float(), *self.input_window)[:, None]

    def pad_values(self) -> torch.Tensor:
        return torch.tensor([-1.0])

    def decode(self, output: torch.Tensor) -> torch.Tensor:
        return output.float()


@dataclass
class AnomalyResult:
    """Heatmap (same grid, float32 in [0, 1]), per-slice scores along the axial view, the volume's score, the
    thresholded segmentation, and warnings about the input."""

    heatmap: Volume
    slice_scores: np.ndarray
    slice_positions_mm: np.ndarray  # superior coordinate (LPS z) of each scored slice
    volume_score: float
    threshold: float
    segmentation: Volume
    warnings: list[str] = field(default_factory=list)

    def slice_table(self) -> list[dict[str, float]]:
        """Rows for a table: slice index (axial view, inferior to superior), position, score, suspected area."""
        spacing = axial_view(self.heatmap).spacing_kji
        suspected = axial_view(self.segmentation).forward(self.segmentation.array).reshape(len(self.slice_scores), -1)
        area = suspected.sum(axis=1) * spacing[1] * spacing[2]
        return [{"slice": index, "position_mm": round(float(position), 3), "anomaly_score": float(score),
                 "suspected_area_mm2": float(a)}
                for index, (position, score, a) in enumerate(zip(self.slice_positions_mm, self.slice_scores, area))]


METHODS = ("f-anogan", "inpainting")


def anomaly_scorer(bundle: ModelBundle) -> torch.nn.Module:
    """The bundle's scorer: f-AnoGAN (generator, encoder and critic) or the inpainting generator."""
    settings = bundle.manifest.anomaly
    method = settings.scoring_method
    if method == "f-anogan":
        return AnomalyScorer(load_network(bundle, "generator"), load_network(bundle, "encoder"),
                             load_network(bundle, "critic"), float(1.0 if settings.kappa is None else settings.kappa)).eval()
    if method == "inpainting":
        error_scale = load_network(bundle, "error_scale") if has_error_scale(bundle) else None
        return InpaintingScorer(load_network(bundle, "generator"), settings.tile, settings.hole,
                                error_scale, int(settings.grid_shifts or 1),
                                pooling=settings.shift_pooling or "best").eval()
    raise GANSynthesisError(f"Model {bundle.name} uses anomaly method {method!r}; this version knows "
                            f"{', '.join(METHODS)}.")


def has_error_scale(bundle: ModelBundle) -> bool:
    """Whether the bundle's residuals are read in units of its expected error."""
    return "error_scale" in bundle.manifest.architecture


def heat_from_residual(smoothed: np.ndarray, error_scaled: bool) -> np.ndarray:
    """Smoothed signed residual (normalised intensity, or expected errors when ``error_scaled``) → heat in [0, 1]."""
    size = np.abs(smoothed)
    return size / (size + HALF_HEAT_Z) if error_scaled else np.minimum(size / 2.0, 1.0)


def heat_units(error_scaled: bool, with_intensity: bool = False) -> str:
    """What a heat value means (the manifest's output units), matching :func:`heat_from_residual` or, with
    intensity evidence, :func:`.surprise.combined_heat`."""
    if with_intensity:
        return (f"S / (S + {HALF_HEAT_SURPRISE:g}), S = surprise of the voxel in context + surprise of its "
                "intensity beyond the model's floor, each −log10 of the share of normal voxels at least as unusual")
    if error_scaled:
        return f"z / (z + {HALF_HEAT_Z:g}), z = residual over the expected error"
    return "fraction of the input intensity window"


def has_intensity_evidence(bundle: ModelBundle) -> bool:
    """Whether the bundle's heat adds the surprise of each voxel's intensity to the surprise in context (in one
    table for the whole body, or per tissue kind)."""
    settings = bundle.manifest.anomaly
    return settings.surprise is not None or settings.tissue_kinds is not None


def body_mask(normalised: np.ndarray, volume: Volume, level: float) -> np.ndarray:
    """The patient: the largest region above ``level`` (normalised intensity), holes filled per axial slice."""
    body = largest_region(normalised > level)
    view = axial_view(volume)
    filled = np.stack([ndimage.binary_fill_holes(s) for s in view.forward(body)])
    return np.ascontiguousarray(view.backward(filled))


def smooth_heatmap(residual: np.ndarray, volume: Volume, sigma_mm: float) -> np.ndarray:
    """Gaussian smoothing with ``sigma_mm`` along every axis, whatever the voxel spacing."""
    if sigma_mm <= 0:
        return residual
    return ndimage.gaussian_filter(residual, [sigma_mm / s for s in volume.spacing[::-1]])


@dataclass
class ContextEvidence:
    """What the bundle's networks alone say about a volume: heat in [0, 1] inside the body, the square or tile
    scores, the body mask and the normalised input."""

    heat: np.ndarray
    scores: np.ndarray
    body: np.ndarray
    normalised: np.ndarray


def context_evidence(volume: Volume, bundle: ModelBundle, options: InferenceOptions | None = None) -> ContextEvidence:
    """Score every axial slice with the bundle's scorer and turn its residuals into heat inside the body."""
    settings = bundle.manifest.anomaly
    array = volume.array.astype(np.float32, copy=False)
    window = input_range(array, bundle.manifest.input.normalisation)
    model = AnomalySliceModel(anomaly_scorer(bundle), tuple(bundle.manifest.grid.in_plane_spacing_mm), window)
    residual, scores = run_slice_model(model, volume.with_array(array), options)
    normalised = to_unit_range(torch.from_numpy(array), *window).numpy()
    body = body_mask(normalised, volume, float(settings.body_level))
    smoothed = smooth_heatmap(residual, volume, float(settings.smoothing_mm))
    return ContextEvidence(heat_from_residual(smoothed, has_error_scale(bundle)) * body, scores, body, normalised)


def intensity_evidence(volume: Volume, normalised: np.ndarray, body: np.ndarray, rarity: list[float],
                       smoothing_mm: float) -> np.ndarray:
    """Each body voxel's intensity rarity in normal anatomy, smoothed like the heat (0 outside the body)."""
    return smooth_heatmap(intensity_rarity(normalised, rarity), volume, smoothing_mm) * body


def find_anomalies(volume: Volume, bundle: ModelBundle, options: InferenceOptions | None = None,
                   threshold: float | None = None, normal_share: float | None = None) -> AnomalyResult:
    """Anomaly heatmap, per-slice and volume scores, and the voxels at or above the threshold as a 0/1
    segmentation. The threshold is ``threshold`` (heat units), else the one that marks ``normal_share`` of
    normal anatomy, else the model's calibrated default (:func:`.thresholds.resolve_threshold`)."""
    if bundle.task != "anomaly":
        raise GANSynthesisError(f"Model {bundle.name} is a {bundle.task} model, not an anomaly model.")
    array = volume.array
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise GANSynthesisError("The input volume holds non-finite values (NaN or infinity); fix or mask them first.")
    settings = bundle.manifest.anomaly
    threshold = resolve_threshold(bundle.manifest, threshold, normal_share)
    warnings = input_warnings(volume, bundle)
    evidence = context_evidence(volume, bundle, options)
    heat, scores = evidence.heat, evidence.scores
    if settings.tissue_kinds is not None:
        masks = kind_masks(array.astype(np.float32, copy=False), evidence.body, volume, settings.tissue_kinds)
        rarity = smoothed_rarity(evidence.normalised, volume, masks, settings.tissue_kinds["kinds"],
                                 float(settings.smoothing_mm))
        scores = kind_surprise(heat, rarity, masks, settings.tissue_kinds)
        heat = heat_from_surprise(scores)
    elif has_intensity_evidence(bundle):
        rarity = intensity_evidence(volume, evidence.normalised, evidence.body, settings.intensity_rarity,
                                    float(settings.smoothing_mm))
        scores = joint_surprise(heat, rarity, settings.surprise) * evidence.body
        heat = heat_from_surprise(scores)
    view = axial_view(volume)
    body_axial, scores_axial = view.forward(evidence.body), view.forward(scores)
    slice_scores = np.where(body_axial.any(axis=(1, 2)),
                            np.where(body_axial, scores_axial, -np.inf).max(axis=(1, 2)), 0.0).astype(np.float64)
    heatmap = volume.with_array(heat.astype(np.float32))
    segmentation = volume.with_array((heat >= threshold).astype(np.uint8))
    return AnomalyResult(heatmap, slice_scores, axial_positions(volume), float(slice_scores.max(initial=0.0)),
                         threshold, segmentation, warnings)


def axial_positions(volume: Volume) -> np.ndarray:
    """LPS z (mm) of the centre of each slice of the axial view, in the view's order."""
    view = axial_view(volume)
    array_axis, shape = view.axes[0], volume.array.shape
    order = np.arange(shape[array_axis])
    if 0 in view.flips:
        order = order[::-1]
    centre = [(n - 1) / 2 for n in shape]
    positions = []
    for index in order:
        kji = list(centre)
        kji[array_axis] = index
        positions.append(volume.index_to_physical(kji[::-1])[2])
    return np.array(positions)

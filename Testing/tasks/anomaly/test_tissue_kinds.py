"""Judging each voxel against normal tissue of its own kind: the lung region and the per-kind surprise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.models.manifest import AnomalySettings
from GANSynthesisLib.models.networks import InpaintingGenerator, UNetGenerator, network_spec
from GANSynthesisLib.tasks.anomaly.detection import InpaintingScorer
from GANSynthesisLib.tasks.anomaly.tissue_kinds import BODY, LUNG, kind_masks, kind_surprise, lung_region

REGION = {"air_hu": -400.0, "min_lung_ml": 100.0, "closing_mm": 30.0}


def chest() -> tuple[Volume, np.ndarray, dict[str, tuple]]:
    """A 2 mm chest: soft-tissue body, two lungs 70 mm apart (the mediastinum between them), a gas pocket of 1 ml in
    the body wall, and a 40 mm soft-tissue mass filling the outer side of the left lung against the
    wall."""
    k, j, i = np.meshgrid(np.arange(40), np.arange(120), np.arange(160), indexing="ij")
    z, y, x = k * 2.0, j * 2.0, i * 2.0
    body = ((x - 160) / 140) ** 2 + ((y - 120) / 100) ** 2 <= 1
    hu = np.where(body, 40.0, -1000.0)
    right = ((x - 85) / 40) ** 2 + ((y - 120) / 60) ** 2 + ((z - 40) / 60) ** 2 <= 1
    left = ((x - 235) / 40) ** 2 + ((y - 120) / 60) ** 2 + ((z - 40) / 60) ** 2 <= 1
    hu[right | left] = -850.0
    pocket = (np.abs(x - 160) <= 4) & (np.abs(y - 26) <= 4) & (np.abs(z - 40) <= 4)
    hu[pocket] = -900.0
    places = {"mass": (20, 60, 127), "mediastinum": (20, 60, 80), "right lung": (20, 60, 42), "pocket": (20, 13, 80)}
    hu[((x - 255) ** 2 + (y - 120) ** 2 + (z - 40) ** 2 <= 20 ** 2) & left] = 40.0
    return Volume(hu.astype(np.float32), (2.0, 2.0, 2.0)), body, places


def test_the_lung_region_takes_in_a_mass_against_the_chest_wall_but_not_the_mediastinum_or_a_gas_pocket():
    volume, body, places = chest()
    region = lung_region(volume.array, body, volume, REGION)
    inside = {name: bool(region[place]) for name, place in places.items()}
    assert inside == {"mass": True, "mediastinum": False, "right lung": True, "pocket": False}
    masks = kind_masks(volume.array, body, volume, {"lung_region": REGION})
    assert not (masks[LUNG] & masks[BODY]).any() and ((masks[LUNG] | masks[BODY]) == body).all()


def test_without_a_closing_the_mass_against_the_wall_stays_outside_the_lung_region():
    volume, body, places = chest()
    region = lung_region(volume.array, body, volume, REGION | {"closing_mm": 2.0})
    assert not region[places["mass"]] and region[places["right lung"]]


def test_a_voxel_is_surprising_by_the_tables_of_its_own_kind():
    tables = {"kinds": {kind: {"context": [[0.1, 0.0], [0.2, 1.0], [0.3, 2.0]],
                               "intensity": [[0.2, 0.0], [0.4, 1.0], [0.6, 2.0]]} for kind in (LUNG, BODY)},
              "intensity_floor": 0.5}
    tables["kinds"][LUNG]["intensity"] = [[0.05, 0.0], [0.1, 1.0], [0.15, 2.0]]  # dense tissue is rare in the lung
    heat = np.array([0.2, 0.2], np.float32)
    rarity = np.array([0.15, 0.15], np.float32)
    masks = {LUNG: np.array([True, False]), BODY: np.array([False, True])}
    joint = kind_surprise(heat, rarity, masks, tables)
    assert joint[0] == pytest.approx(1.0 + (2.0 - 0.5)) and joint[1] == pytest.approx(1.0)


def test_shift_pooling_is_checked_by_name():
    settings = {"threshold": 0.3, "smoothing_mm": 3.0, "body_level": -0.5, "tile": 32, "hole": 8}
    assert AnomalySettings.from_dict(settings | {"shift_pooling": "mean"}).shift_pooling == "mean"
    with pytest.raises(GANSynthesisError, match="shift_pooling"):
        AnomalySettings.from_dict(settings | {"shift_pooling": "median"})


def test_mean_pooling_averages_the_shifted_grids_and_best_keeps_the_smallest_residual():
    torch.manual_seed(0)
    generator = InpaintingGenerator(network_spec(UNetGenerator(2, 1, base_width=4, depth=3, max_width=8))).eval()
    x = torch.rand(1, 1, 24, 24) * 2 - 1
    mean = InpaintingScorer(generator, 16, 8, grid_shifts=2, pooling="mean")
    best = InpaintingScorer(generator, 16, 8, grid_shifts=2)
    with torch.no_grad():
        grids = []
        for top in mean.offsets:
            for left in mean.offsets:
                shifted = torch.nn.functional.pad(x, (left, 0, top, 0), value=-1.0)
                grids.append(mean._grid_maps(shifted)[:, :, top:top + 24, left:left + 24])
        stacked = torch.stack(grids)
        torch.testing.assert_close(mean(x), stacked.mean(0))
        torch.testing.assert_close(best(x)[:, 1:], stacked[:, :, 1:].min(0).values)

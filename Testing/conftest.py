"""Shared fixtures: real files, real torch models, real bundles."""

from __future__ import annotations

import locale
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from support import ROOT, TINY_ANOMALY_TRAINING  # ROOT also serves the tests that import it from here

sys.path.insert(0, str(ROOT))

from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS  # noqa: E402
from GANSynthesisLib.core.volume import Volume  # noqa: E402
from GANSynthesisLib.models.bundle import save_bundle  # noqa: E402
from GANSynthesisLib.models.manifest import Grid, InputSpec, Manifest, Normalisation, OutputSpec  # noqa: E402
from GANSynthesisLib.models.networks import UNetGenerator, network_spec  # noqa: E402


@pytest.fixture(autouse=True)
def keep_locale():
    """Each test ends in the locale it began with: reading a DICOM series (GDCM) leaves the process in the C locale,
    and the tests after it read and write UTF-8 text."""
    before = locale.setlocale(locale.LC_ALL)
    yield
    locale.setlocale(locale.LC_ALL, before)


def tiny_manifest(name: str, network: torch.nn.Module, **changes) -> Manifest:
    """The manifest of an untrained MM-WHS synthesis model holding ``network``; ``changes`` replace fields."""
    manifest = Manifest(
        name=name, version="0.0.1", task="synthesize", title="tiny untrained test model",
        architecture={"generator": network_spec(network)},
        input=InputSpec(kind="labelmap", labels=dict(MMWHS_LABELS)),
        output=OutputSpec(modality="CT", units="HU", normalisation=Normalisation("window", low=-1024, high=2000)),
        grid=Grid(in_plane_spacing_mm=(3.0, 3.0), plane="axial", in_plane_size=(64, 64)),
        training={"data": "none (random weights)", "summary": "untrained"})
    return replace(manifest, **changes)


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory) -> Path:
    """A real bundle holding a small, randomly initialised U-Net (fast to run)."""
    torch.manual_seed(0)
    generator = UNetGenerator(8, 1, base_width=8, depth=3, max_width=16)
    for module in generator.modules():  # give batch-norm layers non-trivial running statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    folder = tmp_path_factory.mktemp("bundles") / "tiny-synth"
    save_bundle(folder, tiny_manifest("tiny-synth", generator), {"generator": generator.state_dict()}, dtype=torch.float32)
    return folder


@pytest.fixture(scope="session")
def tiny_wholebody_bundle_dir(tmp_path_factory) -> Path:
    """A real whole-body (2.5-D, TotalSegmentator-named classes) bundle holding a small random U-Net."""
    from GANSynthesisLib.anatomy.wholebody_classes import INPUT_CHANNELS, LABEL_SET, wholebody_labels

    torch.manual_seed(0)
    generator = UNetGenerator(INPUT_CHANNELS, 1, base_width=8, depth=3, max_width=16)
    folder = tmp_path_factory.mktemp("bundles") / "tiny-wholebody"
    manifest = tiny_manifest("tiny-wholebody", generator,
                             input=InputSpec(kind="labelmap", labels=wholebody_labels(), label_set=LABEL_SET,
                                             extra={"context_slices": 1}),
                             grid=Grid(in_plane_spacing_mm=(1.5, 1.5), plane="axial", in_plane_size=(64, 64)))
    save_bundle(folder, manifest, {"generator": generator.state_dict()}, dtype=torch.float32)
    return folder


def oblique_direction(yaw_deg: float = 20.0, roll_deg: float = 10.0) -> np.ndarray:
    """A proper rotation (det +1) away from the axes: yaw about z then roll about x."""
    a, b = np.deg2rad(yaw_deg), np.deg2rad(roll_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


def hand_drawn_heart(size=(150, 130, 36), spacing=(1.3, 1.1, 2.5), direction=None) -> Volume:
    """A cardiac label map drawn here with plain numpy ellipsoids (not the project's phantom)."""
    nx, ny, nz = size
    z, y, x = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip((nz, ny, nx), spacing[::-1])], indexing="ij")
    labels = np.zeros((nz, ny, nx), np.uint16)

    def blob(cx, cy, cz, ax, ay, az):
        return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2 <= 1

    labels[blob(15, -5, 0, 50, 36, 45)] = MMWHS_LABELS["right ventricle"]
    labels[blob(-30, 5, 10, 28, 24, 30)] = MMWHS_LABELS["right atrium"]
    labels[blob(20, 25, 15, 25, 20, 25)] = MMWHS_LABELS["left atrium"]
    labels[blob(25, 5, -5, 38, 32, 36)] = MMWHS_LABELS["myocardium"]
    labels[blob(25, 5, -5, 27, 21, 26)] = MMWHS_LABELS["left ventricle"]
    labels[((x - 0) ** 2 + (y + 5) ** 2 <= 14**2) & (z > 20)] = MMWHS_LABELS["ascending aorta"]
    labels[((x - 25) ** 2 + (y + 35) ** 2 <= 12**2) & (z > 25)] = MMWHS_LABELS["pulmonary artery"]
    return Volume(labels, spacing, (-40.0, 12.5, 100.0), np.eye(3) if direction is None else direction)


@pytest.fixture(scope="session")
def tiny_anomaly_run(tmp_path_factory) -> Path:
    """A run folder of the project's own f-AnoGAN training (tiny, 2 steps per phase) with its exported bundle
    in ``<run>/exported``."""
    from GANSynthesisTraining.families.fanogan.command import main

    run = tmp_path_factory.mktemp("anomaly-run")
    assert main([*TINY_ANOMALY_TRAINING, "--run-dir", str(run), "--export", str(run / "exported"),
                 "--name", "tiny-anomaly"]) == 0
    return run


@pytest.fixture(scope="session")
def phantom_slice_bank():
    """The slices of one small phantom as a training bank: one-hot label sources, CT targets in [-1, 1]."""
    from GANSynthesisTraining.data.paired_cases import phantom_cases
    from GANSynthesisTraining.data.slice_banks import OneHotLabels, SliceBank

    return SliceBank.from_cases(phantom_cases([1], (64, 64, 6), (6.0, 6.0, 6.0)),
                                OneHotLabels(list(MMWHS_LABELS.values())), 6.0, 64, (-1024.0, 2000.0))

"""Plain helpers the tests share (import them with ``from support import …``; fixtures live in conftest.py): the
repository root, the options of tiny training runs, hand-drawn volumes and tiny manifests."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the library, GANSynthesisTraining and tools/ as in this checkout

from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS  # noqa: E402
from GANSynthesisLib.core.volume import Volume  # noqa: E402
from GANSynthesisLib.models.manifest import Grid, InputSpec, Manifest, Normalisation, OutputSpec  # noqa: E402
from GANSynthesisLib.models.networks import network_spec  # noqa: E402

# A pix2pix run small enough for a test (the synthesis command's options after ``--phantoms`` and friends).
TINY_PIX2PIX = ["--phantoms", "2", "--held-out", "1", "--batch-size", "2", "--g-base-width", "8", "--g-depth", "4",
                "--g-max-width", "16", "--d-base-width", "8", "--d-layers", "2", "--canvas", "64", "--phantom-size",
                "64", "64", "8", "--spacing", "6", "--log-every", "2", "--checkpoint-every", "3", "--threads", "2"]

TINY_ANOMALY_TRAINING = ["--phantoms", "2", "--modality", "ct", "--phantom-size", "64", "64", "12", "--canvas", "64",
                         "--tile", "16", "--latent-dim", "8", "--base-width", "4", "--max-width", "16", "--batch-size",
                         "4", "--critic-steps", "2", "--steps", "2", "--encoder-steps", "2", "--log-every", "1",
                         "--held-out", "1", "--calibration", "1", "--threads", "1", "--snapshot-steps"]

MR_NORMALISATION = Normalisation("percentile", low_percentile=0.5, high_percentile=99.5)

CT_VALUES = np.random.default_rng(0).normal(0, 100, (4, 16, 16)).astype(np.float32)


def heart_labels(shape=(4, 16, 16)) -> np.ndarray:
    labels = np.zeros(shape, np.uint16)
    k, j, i = shape
    labels[:, j // 4: 3 * j // 4, i // 4: 3 * i // 4] = 500
    labels[:, 3 * j // 8: 5 * j // 8, 3 * i // 8: 5 * i // 8] = 205
    return labels


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


def ts_labelmap() -> Volume:
    """A small label map in TotalSegmentator 'total' numbering: heart 51, aorta 52, lobes 10/12, T12 32, rib 94."""
    labels = np.zeros((6, 40, 48), np.uint8)
    labels[:, 10:20, 8:20] = 10
    labels[:, 10:20, 28:40] = 12
    labels[:, 18:26, 20:28] = 51
    labels[:, 12:16, 22:26] = 52
    labels[:, 30:34, 22:26] = 32
    labels[:, 8:10, 6:12] = 94
    return Volume(labels, spacing=(3.0, 3.0, 3.0), origin=(0.0, 0.0, 0.0), direction=np.eye(3))


def mni152_t1() -> Path:
    spec = importlib.util.find_spec("nilearn")
    if spec is None:
        pytest.fail("nilearn (for its MNI152 template) is installed by the Makefile; run make test")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def until_finished(run, timeout: float = 120.0):
    """Poll a child-process run (ChildRun or CommandRun) until it has ended; its final status."""
    import time

    deadline = time.monotonic() + timeout
    while not run.poll().finished:
        assert time.monotonic() < deadline, "the child did not end"
        time.sleep(0.05)
    return run.status

"""Shared fixtures: real files, real torch models, real bundles. Plain helpers live in support.py."""

from __future__ import annotations

import locale
from pathlib import Path

import pytest
import torch

from support import TINY_ANOMALY_TRAINING, tiny_manifest  # support also puts the repository root on sys.path

from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS  # noqa: E402
from GANSynthesisLib.models.bundle import load_bundle, save_bundle  # noqa: E402
from GANSynthesisLib.models.manifest import Grid, InputSpec  # noqa: E402
from GANSynthesisLib.models.networks import UNetGenerator  # noqa: E402


@pytest.fixture(autouse=True)
def keep_locale():
    """Each test ends in the locale it began with: reading a DICOM series (GDCM) leaves the process in the C locale,
    and the tests after it read and write UTF-8 text."""
    before = locale.setlocale(locale.LC_ALL)
    yield
    locale.setlocale(locale.LC_ALL, before)


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


@pytest.fixture(scope="module")
def bundle(tiny_bundle_dir):
    """The tiny synthesis bundle, loaded once per test file."""
    return load_bundle(tiny_bundle_dir)


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


@pytest.fixture(scope="module")
def wholebody_bundle(tiny_wholebody_bundle_dir):
    """The tiny whole-body bundle, loaded once per test file."""
    return load_bundle(tiny_wholebody_bundle_dir)


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

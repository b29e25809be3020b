"""Real CT slices for the low-dose denoiser: which slices train, which are held out, and their simulated doses.

Sources (``../shared/data``, see its README; licences beside the files):
- ``pyradiomics_lung1_ct.nii.gz``: chest CT, pyradiomics 3.1.0 sdist ``data/lung1_image.nrrd``, BSD-3-Clause.
- ``ts_abdomen_ct.nii.gz``: abdomen/pelvis CT, TotalSegmentator 2.18.0 sdist
  ``tests/reference_files/example_ct.nii.gz``, Apache-2.0.

Held out (never trained on, never used to tune a baseline): axial slices 36–47 of the chest CT (the last 12, 60 mm)
and slices 84–111 of the abdomen CT (the last 28, 84 mm); slices 34–35 and 80–83 are a gap left unused. Training
uses slices 0–33 of the chest CT and 0–79 of the abdomen CT.

  python -m GANSynthesisTraining lowdose-pairs --out runs/ldreal
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from GANSynthesisTraining.data.real_scans import read_real_scan
from GANSynthesisTraining.data.noise_insertion import Projector, low_dose_pair, resample_slices

PIXEL_MM = 1.5  # in-plane pixel size the slices are resampled to (and the model's grid)
SCANS = {  # name → (file, training slices, held-out slices, source and licence)
    "chest": ("pyradiomics_lung1_ct.nii.gz", range(0, 34), range(36, 48),
              "pyradiomics 3.1.0 sdist data/lung1_image.nrrd, BSD-3-Clause"),
    "abdomen": ("ts_abdomen_ct.nii.gz", range(0, 80), range(84, 112),
                "TotalSegmentator 2.18.0 sdist tests/reference_files/example_ct.nii.gz, Apache-2.0"),
}
TRAIN_DOSES = (0.05, 0.07, 0.1, 0.14, 0.2, 0.3, 0.45, 0.7, 1.0)
EVAL_DOSES = (0.25, 0.10, 1.0)


def read_axial_hu(name: str) -> tuple[np.ndarray, tuple[float, float]]:
    """(k, j, i) HU array of a scan in its file's axial order and its in-plane spacing (j, i) in mm."""
    volume = read_real_scan(SCANS[name][0])
    return volume.array.astype(np.float32), (volume.spacing[1], volume.spacing[0])


def scan_slices(name: str, split: str, pixel_mm: float = PIXEL_MM) -> np.ndarray:
    """The scan's training or held-out axial slices (HU) at ``pixel_mm`` in-plane."""
    hu, spacing = read_axial_hu(name)
    _, train, held_out, _ = SCANS[name]
    chosen = list(train if split == "train" else held_out)
    return resample_slices(hu[chosen], spacing, pixel_mm)


@dataclass
class PairSet:
    """Noiseless reconstructions (targets), low-dose reconstructions (inputs) and their doses, per slice."""

    targets: np.ndarray  # (n, rows, cols) HU
    inputs: np.ndarray  # (n, doses, rows, cols) HU
    doses: np.ndarray  # (n, doses)


def make_pairs(slices: np.ndarray, doses_per_slice: list[list[float]], seed: int, pixel_mm: float = PIXEL_MM,
               progress: bool = False) -> PairSet:
    """Projection-domain noise insertion for every slice at its doses (same number for every slice)."""
    rng = np.random.default_rng(seed)
    projector = Projector(slices.shape[1:], pixel_mm)
    targets, inputs = [], []
    for index, (image, doses) in enumerate(zip(slices, doses_per_slice)):
        target, noisy = low_dose_pair(image, pixel_mm, list(doses), rng, projector=projector)
        targets.append(target)
        inputs.append(np.stack(noisy))
        if progress and index % 10 == 0:
            print(f"  slice {index + 1}/{len(slices)}", flush=True)
    return PairSet(np.stack(targets), np.stack(inputs), np.asarray(doses_per_slice, np.float32))


def training_pairs(name: str, seed: int, progress: bool = False) -> PairSet:
    """Training slices of one scan, each at every TRAIN_DOSES dose jittered ±15 % (log-uniform)."""
    slices = scan_slices(name, "train")
    rng = np.random.default_rng([seed, 7])
    doses = [[float(min(1.0, d * np.exp(rng.uniform(-0.15, 0.15)))) for d in TRAIN_DOSES] for _ in slices]
    return make_pairs(slices, doses, seed, progress=progress)


def held_out_pairs(name: str, seed: int = 2026) -> PairSet:
    """Held-out slices of one scan at EVAL_DOSES (fixed seed)."""
    slices = scan_slices(name, "held_out")
    return make_pairs(slices, [list(EVAL_DOSES)] * len(slices), seed)


def save_pairs(path: Path, pairs: PairSet) -> None:
    """Write pairs to a compressed .npz file."""
    np.savez_compressed(path, targets=pairs.targets, inputs=pairs.inputs, doses=pairs.doses)


def load_pairs(path: Path) -> PairSet:
    """Pairs written by :func:`save_pairs`."""
    with np.load(path) as data:
        return PairSet(data["targets"], data["inputs"], data["doses"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the pairs go and the noise seed of the training pairs."""
    parser.add_argument("--out", type=Path, required=True, help="folder for <scan>_train.npz and <scan>_held_out.npz")
    parser.add_argument("--seed", type=int, default=0, help="noise and dose seed of the training pairs (held-out "
                        "pairs always use their own fixed seed)")


def run(args: argparse.Namespace) -> int:
    """Write the held-out and training pairs of every scan."""
    args.out.mkdir(parents=True, exist_ok=True)
    for name in SCANS:
        print(f"{name}: held-out pairs", flush=True)
        save_pairs(args.out / f"{name}_held_out.npz", held_out_pairs(name))
        print(f"{name}: training pairs", flush=True)
        save_pairs(args.out / f"{name}_train.npz", training_pairs(name, args.seed, progress=True))
    return 0

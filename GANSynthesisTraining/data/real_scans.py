"""The real scans of ``../shared/data`` (its README gives sources and licences): where they lie, and reading them.

The folder is ``GANSYNTHESIS_REAL_DATA`` when set, else ``shared/data`` beside the repository. A machine without
SimpleITK (the GPU machine) reads portable copies instead: ``<name>.npz`` beside or instead of ``<name>.nii.gz``,
written by ``python -m GANSynthesisTraining portable-scans --out DIR``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume

PORTABLE_SUFFIX = ".npz"


def real_data_dir() -> Path:
    """The folder of the real scans: ``GANSYNTHESIS_REAL_DATA`` or ``shared/data`` beside the repository."""
    configured = os.environ.get("GANSYNTHESIS_REAL_DATA")
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "data"


def real_scans_present(file_name: str) -> bool:
    """Whether the scan (or its portable copy) is there to read."""
    folder = real_data_dir()
    return (folder / file_name).exists() or (folder / portable_name(file_name)).exists()


def portable_name(file_name: str) -> str:
    """``ts_abdomen_ct.nii.gz`` → ``ts_abdomen_ct.npz``."""
    return file_name.removesuffix(".gz").removesuffix(".nii") + PORTABLE_SUFFIX


def read_real_scan(file_name: str) -> Volume:
    """One real scan as a :class:`Volume`: the image file when it is there, else its portable copy."""
    folder = real_data_dir()
    if (folder / file_name).exists():
        from GANSynthesisLib.files.image_files import read_volume  # SimpleITK

        return read_volume(folder / file_name)
    portable = folder / portable_name(file_name)
    if portable.exists():
        with np.load(portable) as data:
            return Volume(data["array"], tuple(data["spacing"]), tuple(data["origin"]), data["direction"])
    raise GANSynthesisError(f"Real scan {file_name} is not in {folder}: put the folder of real scans beside the "
                            "repository as shared/data, or set GANSYNTHESIS_REAL_DATA to it.")


def write_portable_copy(file_name: str, out: Path) -> Path:
    """Write ``<name>.npz`` (voxels in their own type, spacing, origin, direction) of one real scan into ``out``."""
    volume = read_real_scan(file_name)
    path = out / portable_name(file_name)
    np.savez_compressed(path, array=volume.array, spacing=np.asarray(volume.spacing),
                        origin=np.asarray(volume.origin), direction=volume.direction)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the portable copies go."""
    parser.add_argument("--out", type=Path, required=True, help="folder for the .npz copies")


def run(args: argparse.Namespace) -> int:
    """Write a portable copy of every image file in the real-scan folder."""
    args.out.mkdir(parents=True, exist_ok=True)
    for path in sorted(real_data_dir().glob("*.nii.gz")):
        written = write_portable_copy(path.name, args.out)
        print(f"{path.name} → {written} ({written.stat().st_size / 1e6:.1f} MB)", flush=True)
    return 0

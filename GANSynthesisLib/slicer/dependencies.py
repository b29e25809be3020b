"""Which Python packages GANSynthesis needs inside Slicer, and how to install them without breaking Slicer.

torch comes from Slicer's PyTorch extension (PyTorchUtils), which picks the CUDA or CPU build. The
rest is installed with pip, pinned so that Slicer's own numpy, SimpleITK and VTK are never replaced.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata

PIP_PACKAGES = {"safetensors": "safetensors>=0.4", "scipy": "scipy>=1.10"}  # import name → requirement
PROTECTED = ("numpy", "SimpleITK", "vtk")  # shipped with Slicer: pinned to the installed version


def torch_missing() -> bool:
    """Whether torch still has to be installed (through the PyTorch extension)."""
    return importlib.util.find_spec("torch") is None


def missing_pip_packages() -> list[str]:
    """Import names of the pip-installed packages that are not importable."""
    return [name for name in PIP_PACKAGES if importlib.util.find_spec(name) is None]


def pip_requirements(missing: list[str]) -> list[str]:
    """Requirement strings for pip: the missing packages plus pins keeping Slicer's own packages as they are."""
    if not missing:
        return []
    pins = []
    for package in PROTECTED:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return [PIP_PACKAGES[name] for name in missing] + pins

"""The one image type every layer exchanges: a voxel array plus its geometry.

Convention (the same as ITK/SimpleITK):
- ``array`` is indexed (k, j, i), i.e. slice, row, column;
- ``spacing`` is (si, sj, sk) in millimetres;
- ``origin`` is the world position of voxel (0, 0, 0) in **LPS** millimetres;
- ``direction`` is a 3×3 matrix whose column n is the LPS direction of index axis n.

MRML works in RAS; the MRML bridge converts at the edge (x and y negated).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import GANSynthesisError


@dataclass(frozen=True)
class Volume:
    """A 3-D image: ``array`` in (k, j, i) order with LPS geometry."""

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"Volume array must be 3-D (k, j, i); got shape {self.array.shape}")
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        object.__setattr__(self, "origin", tuple(float(o) for o in self.origin))
        object.__setattr__(self, "direction", np.asarray(self.direction, dtype=float).reshape(3, 3))

    @property
    def size(self) -> tuple[int, int, int]:
        """Number of voxels along (i, j, k)."""
        k, j, i = self.array.shape
        return (i, j, k)

    def index_to_physical(self, ijk: tuple[float, float, float]) -> np.ndarray:
        """LPS world position (mm) of a continuous index (i, j, k)."""
        return np.asarray(self.origin) + self.direction @ (np.asarray(self.spacing) * np.asarray(ijk, dtype=float))

    def with_array(self, array: np.ndarray) -> "Volume":
        """The same geometry holding another array of the same shape."""
        if array.shape != self.array.shape:
            raise ValueError(f"array shape {array.shape} differs from the volume's {self.array.shape}")
        return replace(self, array=array)

    def same_geometry(self, other: "Volume", atol: float = 1e-6) -> bool:
        """Whether both volumes sample the same voxel grid in world space."""
        return (
            self.array.shape == other.array.shape
            and np.allclose(self.spacing, other.spacing, atol=atol)
            and np.allclose(self.origin, other.origin, atol=atol)
            and np.allclose(self.direction, other.direction, atol=atol)
        )


def check_geometry(volume: Volume, what: str) -> Volume:
    """``volume`` if its grid can be kept exactly: positive finite spacing and an orthonormal direction matrix."""
    spacing = np.asarray(volume.spacing)
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise GANSynthesisError(f"The {what} has voxel spacing {volume.spacing} mm; every spacing must be a positive "
                                "number. Fix the spacing in the image header.")
    direction = volume.direction
    if not np.all(np.isfinite(direction)) or abs(np.linalg.det(direction)) < 1e-6:
        raise GANSynthesisError(f"The {what}'s direction matrix is singular (two index axes point the same way or "
                                "one is zero), so its voxels have no position in space. Fix the orientation in the "
                                "image header.")
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise GANSynthesisError(f"The {what}'s direction matrix is not orthonormal (its axes are sheared or scaled), "
                                "and an output can only keep an orthogonal grid exactly. Resample it onto an "
                                "orthogonal grid first.")
    return volume

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

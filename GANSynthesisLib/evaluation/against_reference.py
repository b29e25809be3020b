"""Comparing a synthetic volume with a real reference: SynthRAD2023 metrics and an error map."""

from __future__ import annotations

import numpy as np

from ..core.errors import GANSynthesisError
from ..core.volume import Volume
from .image_metrics import body_mask_from_ct, image_metrics


def evaluate_volumes(synthetic: Volume, reference: Volume, mask: Volume | None = None) -> tuple[dict, Volume]:
    """Metrics inside the mask (default: the reference's body) and the error map synthetic − reference."""
    if not synthetic.same_geometry(reference, atol=1e-3):
        raise GANSynthesisError("The synthetic and reference volumes do not share one voxel grid (size, spacing, "
                                "origin, direction); resample one onto the other first.")
    if mask is not None and not mask.same_geometry(reference, atol=1e-3):
        raise GANSynthesisError("The mask does not share the reference's voxel grid.")
    body = (mask.array > 0) if mask is not None else body_mask_from_ct(reference.array.astype(np.float32))
    if not body.any():
        raise GANSynthesisError("The mask is empty; give a body mask with at least one voxel.")
    metrics = image_metrics(reference.array.astype(np.float32), synthetic.array.astype(np.float32), body)
    metrics["mask_voxels"] = int(body.sum())
    error = synthetic.array.astype(np.float32) - reference.array.astype(np.float32)
    return metrics, reference.with_array(error)

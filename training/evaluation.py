"""Held-out evaluation of a synthesis generator beside the per-label mean-HU baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from GANSynthesisLib.inference import InferenceOptions, run_translator
from GANSynthesisLib.metrics import image_metrics
from GANSynthesisLib.synthesis import LabelToImageTranslator

from .datasets import LabelledCase
from .plots import save_image_grid

METRIC_NAMES = ("mae", "psnr", "ssim")


def label_mean_baseline(cases: list[LabelledCase], label_values: list[int]) -> dict[int, float]:
    """Mean HU of each label (and of label 0) over the body voxels of the training cases."""
    means = {}
    for value in [0, *label_values]:
        voxels = [case.image.array[(case.labels.array == value) & case.body] for case in cases]
        voxels = np.concatenate(voxels) if voxels else np.array([])
        means[value] = float(voxels.mean()) if voxels.size else -1000.0
    return means


def apply_baseline(labels: np.ndarray, means: dict[int, float]) -> np.ndarray:
    """Each voxel gets its label's mean HU (unknown labels get label 0's)."""
    out = np.full(labels.shape, means[0], np.float32)
    for value, mean in means.items():
        out[labels == value] = mean
    return out


def _summarise(per_case: list[dict[str, float]]) -> dict[str, float]:
    return {name: float(np.mean([m[name] for m in per_case])) for name in METRIC_NAMES} | {
        f"{name}_std": float(np.std([m[name] for m in per_case])) for name in METRIC_NAMES}


def evaluate_synthesis(translator: LabelToImageTranslator, cases: list[LabelledCase], baseline: dict[int, float],
                       figure_path: Path | None = None, options: InferenceOptions | None = None) -> dict:
    """SynthRAD metrics in the body mask for the GAN and the baseline, per case and averaged."""
    gan, base, rows = [], [], {"mask": [], "real": [], "synthetic": [], "difference": []}
    for case in cases:
        synthetic = run_translator(translator, case.labels, options).array
        baseline_ct = apply_baseline(case.labels.array, baseline)
        gan.append(image_metrics(case.image.array, synthetic, case.body) | {"case": case.case_id})
        base.append(image_metrics(case.image.array, baseline_ct, case.body) | {"case": case.case_id})
        k = int(np.argmax((case.labels.array > 0).sum(axis=(1, 2))))
        rows["mask"].append(case.labels.array[k])
        rows["real"].append(case.image.array[k])
        rows["synthetic"].append(synthetic[k])
        rows["difference"].append(synthetic[k] - case.image.array[k])
    if figure_path is not None:
        shown = {key: values[:4] for key, values in rows.items()}
        save_image_grid(shown, figure_path, {"mask": (0, 850, "nipy_spectral"), "real": (-400, 600, "gray"),
                                             "synthetic": (-400, 600, "gray"), "difference": (-300, 300, "coolwarm")},
                        title="held-out phantoms: label map | real CT | synthetic CT | synthetic − real (HU)")
    return {"cases": len(cases), "gan": _summarise(gan), "baseline_label_mean_hu": _summarise(base),
            "per_case": {"gan": gan, "baseline_label_mean_hu": base}}

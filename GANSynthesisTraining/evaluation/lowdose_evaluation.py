"""Held-out evaluation of a low-dose CT denoiser on real slices: model vs input vs classical denoisers.

The classical baselines (scikit-image Gaussian, bilateral, non-local means) get their parameters tuned per dose on
training slices only (every 6th training slice of each scan, at the evaluation doses, another noise draw), by PSNR in
the body. The model runs through the ``translate`` task path, as a user would run it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.evaluation.image_metrics import body_mask_from_ct, masked_mae, masked_psnr, masked_ssim
from GANSynthesisLib.models.bundle import ModelBundle
from GANSynthesisTraining.data.lowdose_pairs import (EVAL_DOSES, PIXEL_MM, SCANS, PairSet, held_out_pairs, load_pairs,
                                                     make_pairs, save_pairs, scan_slices)
from GANSynthesisTraining.data.noise_insertion import noise_std_in_flat_regions

WINDOW = (-1024.0, 2000.0)
DOSE_LABELS = {0.25: "25 % dose", 0.10: "10 % dose", 1.0: "100 % dose (+ noise)", "clean": "full dose (noiseless recon)"}
CONDITIONS = [0.25, 0.10, 1.0, "clean"]


def _unit(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, *WINDOW) - WINDOW[0]) / (WINDOW[1] - WINDOW[0])


def _hu(unit: np.ndarray) -> np.ndarray:
    return (unit * (WINDOW[1] - WINDOW[0]) + WINDOW[0]).astype(np.float32)


def gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """scikit-image Gaussian filter (σ in pixels), HU in and out."""
    from skimage.filters import gaussian as skimage_gaussian

    return skimage_gaussian(image.astype(np.float64), sigma=sigma, preserve_range=True).astype(np.float32)


def bilateral(image: np.ndarray, sigma_color_hu: float, sigma_spatial: float) -> np.ndarray:
    """scikit-image bilateral filter (intensity σ in HU, spatial σ in pixels), HU in and out."""
    from skimage.restoration import denoise_bilateral

    return _hu(denoise_bilateral(_unit(image), sigma_color=sigma_color_hu / (WINDOW[1] - WINDOW[0]),
                                 sigma_spatial=sigma_spatial, win_size=2 * int(np.ceil(2 * sigma_spatial)) + 1,
                                 mode="reflect"))


def nl_means(image: np.ndarray, h_hu: float) -> np.ndarray:
    """scikit-image non-local means (filter strength in HU), HU in and out."""
    from skimage.restoration import denoise_nl_means

    return _hu(denoise_nl_means(_unit(image), h=h_hu / (WINDOW[1] - WINDOW[0]), patch_size=5, patch_distance=6,
                                fast_mode=True))


BASELINES: dict[str, tuple[Callable, list[tuple]]] = {  # name → (function, parameter grid)
    "Gaussian": (gaussian, [(s,) for s in (0.3, 0.5, 0.7, 0.9, 1.1, 1.4, 1.8, 2.3, 3.0)]),
    "bilateral": (bilateral, list(itertools.product((10.0, 40.0, 100.0, 170.0, 260.0, 400.0, 650.0, 1000.0),
                                                        (0.7, 1.3, 2.2, 3.5, 5.0)))),
    "non-local means": (nl_means, [(h,) for h in (5.0, 20.0, 45.0, 80.0, 120.0, 170.0, 240.0, 340.0, 480.0, 680.0)]),
}


def condition_input(pairs: PairSet, index: int, condition: float | str) -> np.ndarray:
    """The input slice of one condition: a dose's reconstruction, or the noiseless reconstruction itself."""
    if condition == "clean":
        return pairs.targets[index]
    column = int(np.argmin(np.abs(pairs.doses[index] - condition)))
    return pairs.inputs[index, column]


def slice_metrics(target: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """MAE, PSNR and SSIM in the body of one slice, and the noise left in its flat regions."""
    body = body_mask_from_ct(target[None])[0]
    return {"mae": masked_mae(target, output, body), "psnr": masked_psnr(target, output, body),
            "ssim": masked_ssim(target[None], output[None], body[None]),
            "noise_std": noise_std_in_flat_regions(output, target)}


def tuning_pairs(cache: Path | None = None) -> dict[str, PairSet]:
    """Every 6th training slice of each scan at the evaluation doses (seed 77): for tuning baselines only."""
    result = {}
    for name in SCANS:
        path = cache / f"{name}_tuning.npz" if cache else None
        if path and path.exists():
            result[name] = load_pairs(path)
            continue
        slices = scan_slices(name, "train")[::6]
        result[name] = make_pairs(slices, [list(EVAL_DOSES)] * len(slices), seed=77)
        if path:
            save_pairs(path, result[name])
    return result


def tune_baselines(tuning: dict[str, PairSet]) -> dict[str, dict]:
    """{baseline: {condition label: best parameters}} by mean PSNR in the body over the tuning slices."""
    chosen: dict[str, dict] = {}
    for name, (function, grid) in BASELINES.items():
        chosen[name] = {}
        for condition in CONDITIONS:
            scores = []
            for params in grid:
                values = [masked_psnr(pairs.targets[i], function(condition_input(pairs, i, condition), *params),
                                      body_mask_from_ct(pairs.targets[i][None])[0])
                          for pairs in tuning.values() for i in range(len(pairs.targets))]
                scores.append(float(np.mean(values)))
            chosen[name][str(condition)] = list(grid[int(np.argmax(scores))])
    return chosen


@dataclass
class Evaluation:
    """Held-out results of a denoiser beside the input and the tuned baselines."""

    table: dict  # condition label → method → metric → mean over held-out slices
    per_scan: dict  # scan → condition label → method → metric
    tuned: dict
    examples: dict  # condition label → method → example slice (HU), and 'target'


def volume_of(slices: np.ndarray) -> Volume:
    """Axial slices at the model grid as a volume (5 mm apart)."""
    return Volume(np.ascontiguousarray(slices, np.float32), spacing=(PIXEL_MM, PIXEL_MM, 5.0))


def model_denoiser(bundle: ModelBundle) -> Callable[[np.ndarray], np.ndarray]:
    """Slices (n, rows, cols) HU → denoised slices, through the translate task path on the CPU."""
    from GANSynthesisLib.engine.inference import InferenceOptions
    from GANSynthesisLib.tasks.translation.image_translation import translate

    def denoise(slices: np.ndarray) -> np.ndarray:
        output, _ = translate(volume_of(slices), bundle, InferenceOptions(device="cpu", threads=2))
        return output.array

    return denoise


def evaluate(denoise: Callable[[np.ndarray], np.ndarray], held_out: dict[str, PairSet], tuned: dict,
             example: tuple[str, int] = ("chest", 6)) -> Evaluation:
    """Every method on every condition of the held-out pairs: means per scan and overall, and example slices."""
    methods = ["input", *BASELINES, "model"]
    rows: dict = {}
    per_scan: dict = {}
    examples: dict = {}
    for condition in CONDITIONS:
        label = DOSE_LABELS[condition]
        collected = {m: [] for m in methods}
        for scan, pairs in held_out.items():
            inputs = np.stack([condition_input(pairs, i, condition) for i in range(len(pairs.targets))])
            outputs = {"input": inputs, "model": denoise(inputs)}
            for name, (function, _) in BASELINES.items():
                params = tuned[name][str(condition)]
                outputs[name] = np.stack([function(x, *params) for x in inputs])
            scan_rows = {m: [slice_metrics(t, o) for t, o in zip(pairs.targets, outputs[m])] for m in methods}
            per_scan.setdefault(scan, {})[label] = {m: _mean(v) for m, v in scan_rows.items()}
            for m in methods:
                collected[m] += scan_rows[m]
            if scan == example[0]:
                examples[label] = {m: outputs[m][example[1]] for m in methods} | {"target": pairs.targets[example[1]]}
        rows[label] = {m: _mean(v) for m, v in collected.items()}
    return Evaluation(rows, per_scan, tuned, examples)


def _mean(items: list[dict]) -> dict:
    return {key: float(np.nanmean([item[key] for item in items])) for key in items[0]}


def table_text(table: dict) -> str:
    """Markdown table of an :class:`Evaluation`'s table."""
    lines = ["| input | method | MAE (HU) ↓ | PSNR (dB) ↑ | SSIM ↑ | noise std, flat regions (HU) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for label, methods in table.items():
        for method, m in methods.items():
            name = "**model**" if method == "model" else method
            lines.append(f"| {label} | {name} | {m['mae']:.1f} | {m['psnr']:.2f} | {m['ssim']:.4f} | "
                         f"{m['noise_std']:.1f} |")
    return "\n".join(lines)


def figure(evaluation: Evaluation, path: Path,
           conditions: tuple[str, ...] = ("25 % dose", "full dose (noiseless recon)")) -> None:
    """Rows: each condition at a soft-tissue (W400/L40) and a lung (W1500/L-600) window; columns: input | each
    baseline | model | target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = ["input", *BASELINES, "model", "target"]
    windows = [("W400/L40", 40 - 200, 40 + 200), ("W1500/L-600", -600 - 750, -600 + 750)]
    rows = [(c, w) for c in conditions for w in windows]
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.3 * len(columns), 1.9 * len(rows)))
    for r, (condition, (wname, low, high)) in enumerate(rows):
        images = evaluation.examples[condition]
        for c, method in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(images[method], cmap="gray", vmin=low, vmax=high)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(method, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{condition}\n{wname}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def held_out_sets(pairs_dir: Path | None = None) -> dict[str, PairSet]:
    """The held-out pairs of every scan: from ``pairs_dir`` when written there, else made now."""
    result = {}
    for name in SCANS:
        path = pairs_dir / f"{name}_held_out.npz" if pairs_dir else None
        result[name] = load_pairs(path) if path and path.exists() else held_out_pairs(name)
    return result

"""Held-out evaluation: the model and plain baselines on the same cases, SynthRAD2023 metrics in the body."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from GANSynthesisLib.engine.inference import InferenceOptions, run_translator
from GANSynthesisLib.engine.input_checks import input_range
from GANSynthesisLib.evaluation.image_metrics import image_metrics
from GANSynthesisLib.models.manifest import Manifest, Normalisation
from GANSynthesisLib.tasks.translation.image_translation import ImageTranslator
from GANSynthesisTraining.bundles.generator_bundle import export_generator
from GANSynthesisTraining.data.paired_cases import PairedCase
from GANSynthesisTraining.evaluation.plots import save_image_grid
from GANSynthesisTraining.loop.trainer import GanTrainer

METRIC_NAMES = ("mae", "psnr", "ssim")
Predictor = Callable[[PairedCase], np.ndarray]


def summarise(per_case: list[dict[str, float]]) -> dict[str, float]:
    """Mean and standard deviation of each metric over cases."""
    return {name: float(np.mean([m[name] for m in per_case])) for name in METRIC_NAMES} | {
        f"{name}_std": float(np.std([m[name] for m in per_case])) for name in METRIC_NAMES}


def _source_style(case: PairedCase) -> tuple:
    array = case.source.array
    if np.issubdtype(array.dtype, np.integer):
        return (0, float(array.max()) or 1.0, "nipy_spectral")
    low, high = np.percentile(array, [1, 99])
    return (float(low), float(high), "gray")


def evaluate_cases(cases: list[PairedCase], predict: Predictor, baselines: list[Predictor],
                   figure_path: Path | None = None, title: str = "") -> dict:
    """Metrics per case and averaged for ``predict`` and each baseline (objects with a ``name``)."""
    model_scores, baseline_scores = [], {b.name: [] for b in baselines}
    rows: dict[str, list] = {"source": [], "target": [], "output": [], "output − target": []}
    for case in cases:
        output = predict(case)
        model_scores.append(image_metrics(case.target.array, output, case.body) | {"case": case.case_id})
        for baseline in baselines:
            baseline_scores[baseline.name].append(image_metrics(case.target.array, baseline(case), case.body)
                                                  | {"case": case.case_id})
        shown = (case.source.array > 0) if np.issubdtype(case.source.array.dtype, np.integer) else case.body
        slices = np.nonzero(shown.any(axis=(1, 2)))[0]
        k = int(slices[len(slices) // 2]) if len(slices) else case.body.shape[0] // 2  # middle of the anatomy
        for key, image in zip(rows, (case.source.array[k], case.target.array[k], output[k],
                                     output[k] - case.target.array[k])):
            rows[key].append(image)
    if figure_path is not None:
        styles = {"source": _source_style(cases[0]), "target": (-400, 600, "gray"), "output": (-400, 600, "gray"),
                  "output − target": (-300, 300, "coolwarm")}
        save_image_grid({key: values[:4] for key, values in rows.items()}, figure_path, styles, title=title)
    return {"cases": len(cases), "model": summarise(model_scores),
            "baselines": {name: summarise(scores) for name, scores in baseline_scores.items()},
            "per_case": {"model": model_scores, **baseline_scores}}


def image_predictor(generator: torch.nn.Module, spacing: float, normalisation: Normalisation,
                    output_window: tuple[float, float]) -> Predictor:
    """Whole-case prediction of an image-to-image generator, input normalised as its manifest will say."""

    def predict(case) -> np.ndarray:
        translator = ImageTranslator(generator, (spacing, spacing), generator.size_multiple,
                                     input_range(case.source.array, normalisation), output_window)
        return run_translator(translator, case.source, InferenceOptions(device="cpu")).array

    return predict


def print_metrics(metrics: dict) -> None:
    """One line per method: MAE, PSNR and SSIM of the model and each baseline."""
    rows = [("model", metrics["model"]), *metrics["baselines"].items()]
    for name, m in rows:
        print(f"{name:40s} MAE {m['mae']:7.1f} HU  PSNR {m['psnr']:6.2f} dB  SSIM {m['ssim']:.3f}")


def evaluate_and_export(args: argparse.Namespace, trainer: GanTrainer, test_cases: list, predict: Predictor,
                        baselines: list, manifest: Manifest, test_data: str) -> dict:
    """Held-out metrics (model and baselines) to metrics.json and held_out.png; bundle export if asked."""
    print(f"evaluating on {len(test_cases)} held-out cases …", flush=True)
    metrics = evaluate_cases(test_cases, predict, baselines, args.run_dir / "held_out.png",
                             title=f"held-out: source | target | {args.name} | difference (HU)")
    metrics["data"] = test_data
    (args.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print_metrics(metrics)
    if args.export:
        manifest = replace(manifest, metrics={k: v for k, v in metrics.items() if k != "per_case"})
        bundle = export_generator(args.export, trainer.export_generator.cpu().eval(), manifest,
                                  args.run_dir / "held_out.png")
        print(f"exported {bundle.name} to {bundle.path}")
    return metrics

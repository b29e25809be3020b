"""Anomaly models on lesion phantoms drawn with and without partial volume: how much normal tissue each marks
at its default threshold, how well it finds the lesions, and how often it warns about the input; and, for models
that set a threshold by the share of normal tissue to mark, how much each such threshold marks here.

Real scans have partial volume at any voxel size; phantoms drawn sharp have none. A model that knows only sharp
phantoms reads the in-between intensities of real edges as rare. Same seeds, same 3 mm grid, one process.
Not a test: numbers to read and report.

    python benchmarks/anomaly_partial_volume.py [--models anomaly-ct-phantom ...] [--bundles DIR ...]
        [--seeds 97000 ...] [--supersample 1 3] [--threshold T] [--normal-shares 0.01 ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from GANSynthesisLib.models.bundle import ModelBundle, load_bundle  # noqa: E402
from GANSynthesisLib.models.registry import find_model  # noqa: E402
from GANSynthesisLib.phantoms.lesions import lesion_case  # noqa: E402
from GANSynthesisLib.tasks.anomaly.detection import find_anomalies  # noqa: E402
from GANSynthesisLib.tasks.anomaly.thresholds import (normal_heat_table, percent_text, resolve_threshold,  # noqa: E402
                                                      threshold_for_normal_share)
from GANSynthesisTraining.evaluation.anomaly_evaluation import SUBSETS, judged_voxels  # noqa: E402
from GANSynthesisTraining.evaluation.detection_metrics import at_threshold, detection_metrics  # noqa: E402

DEFAULT_SEEDS = list(range(97_000, 97_008))  # outside every training, calibration and card set


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["anomaly-ct-phantom"], help="bundled anomaly models")
    parser.add_argument("--bundles", nargs="*", type=Path, default=[], help="bundle folders (e.g. a new export)")
    parser.add_argument("--seeds", nargs="+", type=int, default=DEFAULT_SEEDS)
    parser.add_argument("--supersample", nargs="+", type=int, default=[1, 3], help="1: sharp; 3: partial volume")
    parser.add_argument("--threshold", type=float, default=None, help="heat threshold (default: each model's own)")
    parser.add_argument("--normal-shares", nargs="*", type=float, default=[0.001, 0.005, 0.01, 0.05],
                        help="shares of normal tissue to mark: each sets a threshold by the model's calibration")
    parser.add_argument("--size", nargs=3, type=int, default=(128, 128, 48), metavar=("X", "Y", "Z"))
    return parser.parse_args(argv)


def pooled_heat(bundle: ModelBundle, seeds: list[int], supersample: int,
                size: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, int]:
    """The bundle's heat at the body voxels of the lesion phantoms ``seeds``, pooled; which of them are lesion
    (all lesions); how many cases were warned about."""
    heats, truths, warned = [], [], 0
    modality = bundle.manifest.input.modality.lower()
    for seed in seeds:
        case = lesion_case(seed, "mr" if modality.startswith("mr") else "ct", size, supersample=supersample)
        result = find_anomalies(case.image, bundle)
        judged, lesion = judged_voxels(case, SUBSETS["all lesions"])
        warned += bool(result.warnings)
        heats.append(result.heatmap.array[judged])
        truths.append(lesion[judged])
    return np.concatenate(heats), np.concatenate(truths), warned


def share_rows(label: str, kind: str, bundle: ModelBundle, scores: np.ndarray, truth: np.ndarray,
               shares: list[float]) -> list[str]:
    """Table rows: for each share of normal tissue asked for, the threshold the bundle's calibration gives and
    what it marks here; none for bundles that cannot set a threshold by share."""
    if normal_heat_table(bundle.manifest) is None:
        return []
    rows = []
    for share in shares:
        threshold = threshold_for_normal_share(bundle.manifest, share)
        marked = at_threshold(scores, truth, threshold)
        rows.append(f"| {label} | {kind} | {percent_text(share)} | {threshold:.4f} | "
                    f"{percent_text(marked['normal_marked'])} | {percent_text(marked['lesion_found'])} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bundles = [find_model(name, "anomaly") for name in args.models] + [load_bundle(path) for path in args.bundles]
    print(f"{len(args.seeds)} lesion phantoms (seeds {args.seeds[0]}…{args.seeds[-1]}), "
          f"{'×'.join(map(str, args.size))} voxels at 3 mm; pooled over the body")
    print("| model | partial volume | normal body marked | AUROC | AUPRC | Dice at threshold | best Dice (at) "
          "| cases warned |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    by_share = []
    for bundle, label in zip(bundles, [*args.models, *map(str, args.bundles)]):
        threshold = resolve_threshold(bundle.manifest, args.threshold)
        for supersample in args.supersample:
            scores, truth, warned = pooled_heat(bundle, args.seeds, supersample, tuple(args.size))
            metrics, marked = detection_metrics(scores, truth), at_threshold(scores, truth, threshold)
            kind = f"{supersample}³ samples" if supersample > 1 else "none"
            print(f"| {label} | {kind} | {100 * marked['normal_marked']:.3f} % | {metrics['auroc']:.3f} | "
                  f"{metrics['auprc']:.3f} | {marked['dice']:.3f} | "
                  f"{metrics['best_dice']:.3f} ({metrics['best_threshold']:.3f}) | {warned}/{len(args.seeds)} |",
                  flush=True)
            by_share += share_rows(label, kind, bundle, scores, truth, args.normal_shares)
    if by_share:
        print("\nthresholds set by the share of normal tissue to mark (calibration phantoms) and what they mark here")
        print("| model | partial volume | share asked for | threshold | normal body marked | lesion voxels found |")
        print("| --- | --- | --- | --- | --- | --- |")
        print("\n".join(by_share))
    return 0


if __name__ == "__main__":
    sys.exit(main())

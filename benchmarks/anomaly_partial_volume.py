"""Anomaly models on lesion phantoms drawn with and without partial volume: how much normal tissue each marks
at its default threshold, how well it finds the lesions, and how often it warns about the input.

Real scans have partial volume at any voxel size; phantoms drawn sharp have none. A model that knows only sharp
phantoms reads the in-between intensities of real edges as rare. Same seeds, same 3 mm grid, one process.
Not a test: numbers to read and report.

    python benchmarks/anomaly_partial_volume.py [--models anomaly-ct-phantom ...] [--bundles DIR ...]
        [--seeds 97000 ...] [--supersample 1 3] [--threshold T]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from GANSynthesisLib.anomaly import detect_anomalies  # noqa: E402
from GANSynthesisLib.bundle import ModelBundle, load_bundle  # noqa: E402
from GANSynthesisLib.detection_metrics import at_threshold, detection_metrics  # noqa: E402
from GANSynthesisLib.lesions import lesion_case  # noqa: E402
from GANSynthesisLib.registry import find_model  # noqa: E402
from training.anomaly_evaluation import SUBSETS, judged_voxels  # noqa: E402

DEFAULT_SEEDS = list(range(97_000, 97_008))  # outside every training, calibration and card set


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["anomaly-ct-phantom"], help="bundled anomaly models")
    parser.add_argument("--bundles", nargs="*", type=Path, default=[], help="bundle folders (e.g. a new export)")
    parser.add_argument("--seeds", nargs="+", type=int, default=DEFAULT_SEEDS)
    parser.add_argument("--supersample", nargs="+", type=int, default=[1, 3], help="1: sharp; 3: partial volume")
    parser.add_argument("--threshold", type=float, default=None, help="heat threshold (default: each model's own)")
    parser.add_argument("--size", nargs=3, type=int, default=(128, 128, 48), metavar=("X", "Y", "Z"))
    return parser.parse_args(argv)


def judge(bundle: ModelBundle, seeds: list[int], supersample: int, size: tuple[int, int, int],
          threshold: float | None) -> dict[str, float]:
    """Pooled over ``seeds``: share of normal body voxels at or above ``threshold`` (None: the model's own), AUROC,
    AUPRC, Dice at the threshold and the best Dice at any threshold (all lesions), and how many cases were warned
    about."""
    heats, truths, warned, used = [], [], 0, threshold
    modality = bundle.manifest["input"]["modality"].lower()
    for seed in seeds:
        case = lesion_case(seed, "mr" if modality.startswith("mr") else "ct", size, supersample=supersample)
        result = detect_anomalies(case.image, bundle, threshold=threshold)
        judged, lesion = judged_voxels(case, SUBSETS["all lesions"])
        used = result.threshold
        warned += bool(result.warnings)
        heats.append(result.heatmap.array[judged])
        truths.append(lesion[judged])
    scores, truth = np.concatenate(heats), np.concatenate(truths)
    metrics, marked = detection_metrics(scores, truth), at_threshold(scores, truth, used)
    return {"normal_marked_percent": 100 * marked["normal_marked"], "auroc": metrics["auroc"],
            "auprc": metrics["auprc"], "best_dice": metrics["best_dice"], "best_threshold": metrics["best_threshold"],
            "dice_at_threshold": marked["dice"], "warned": warned}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bundles = [find_model(name, "anomaly") for name in args.models] + [load_bundle(path) for path in args.bundles]
    print(f"{len(args.seeds)} lesion phantoms (seeds {args.seeds[0]}…{args.seeds[-1]}), "
          f"{'×'.join(map(str, args.size))} voxels at 3 mm; pooled over the body")
    print("| model | partial volume | normal body marked | AUROC | AUPRC | Dice at threshold | best Dice (at) "
          "| cases warned |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for bundle, label in zip(bundles, [*args.models, *map(str, args.bundles)]):
        for supersample in args.supersample:
            row = judge(bundle, args.seeds, supersample, tuple(args.size), args.threshold)
            kind = f"{supersample}³ samples" if supersample > 1 else "none"
            print(f"| {label} | {kind} | {row['normal_marked_percent']:.3f} % | {row['auroc']:.3f} | "
                  f"{row['auprc']:.3f} | {row['dice_at_threshold']:.3f} | "
                  f"{row['best_dice']:.3f} ({row['best_threshold']:.3f}) | {row['warned']}/{len(args.seeds)} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

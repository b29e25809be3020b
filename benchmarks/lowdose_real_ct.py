"""Low-dose CT denoisers on held-out REAL CT slices: the model (through the translate task path) against the low-dose
input and scikit-image Gaussian, bilateral and non-local-means filters tuned per dose on training slices only.

Held out: chest CT (pyradiomics lung1) slices 36–47 and abdomen CT (TotalSegmentator example) slices 84–111, at
1.5 mm in-plane, made low-dose by projection-domain noise insertion (GANSynthesisTraining.data.noise_insertion) at
25 % and 10 % dose, at 100 % dose (one more full-dose noise draw), and the noiseless reconstruction itself as input
(full dose).
Prints a Markdown table; not a test.

    python benchmarks/lowdose_real_ct.py [--model lowdose-ct-real | --model Resources/Models/...] \
        [--cache runs/ldreal] [--figure held_out.png] [--json metrics.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from GANSynthesisLib.models.registry import find_model  # noqa: E402
from GANSynthesisTraining.evaluation.lowdose_evaluation import (evaluate, figure, held_out_sets,  # noqa: E402
                                                                model_denoiser, table_text, tune_baselines,
                                                                tuning_pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lowdose-ct-real", help="translate model name or bundle folder")
    parser.add_argument("--cache", type=Path, help="folder for (or with) the held-out/tuning pairs and "
                        "baseline_parameters.json (python -m GANSynthesisTraining lowdose-pairs writes the pairs)")
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    bundle = find_model(args.model, "translate")
    tuned_path = args.cache / "baseline_parameters.json" if args.cache else None
    if tuned_path and tuned_path.exists():
        tuned = json.loads(tuned_path.read_text())
    else:
        if args.cache:
            args.cache.mkdir(parents=True, exist_ok=True)
        tuned = tune_baselines(tuning_pairs(args.cache))
        if tuned_path:
            tuned_path.write_text(json.dumps(tuned, indent=1))
    evaluation = evaluate(model_denoiser(bundle), held_out_sets(args.cache), tuned)
    print(f"model {bundle.name} ({bundle.path}); baselines tuned on training slices: {tuned}")
    print(table_text(evaluation.table))
    for scan, rows in evaluation.per_scan.items():
        print(f"\n{scan}:\n" + table_text(rows))
    print(f"\n{time.perf_counter() - start:.0f} s on the CPU ({args.threads} threads)")
    if args.figure:
        figure(evaluation, args.figure)
    if args.json:
        args.json.write_text(json.dumps({"table": evaluation.table, "per_scan": evaluation.per_scan,
                                         "baseline_parameters": tuned}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

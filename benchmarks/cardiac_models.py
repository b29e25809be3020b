"""The cardiac (MM-WHS) task on the heart phantoms: each synthesis model given only the seven MM-WHS structures of
held-out thorax phantoms (GANSynthesisLib.phantoms.thorax, seeds 90000–90005, 128×128×48 at 3 mm: the phantoms the
first MM-WHS model was trained and scored on), run as the synthesize task runs it, at the default contrast phase and
at the network's own level. MAE, PSNR and SSIM in the body, mean ± sd over the phantoms. Not a test.

    python benchmarks/cardiac_models.py [--models mmwhs-ct wholebody-ct BUNDLE...] [--threads 2]

The replaced 2-D model: ``git worktree add /tmp/old0644 0644ca5``, then
``--models /tmp/old0644/Resources/Models/mmwhs-ct-phantom``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from GANSynthesisLib.engine.inference import InferenceOptions  # noqa: E402
from GANSynthesisLib.evaluation.image_metrics import image_metrics  # noqa: E402
from GANSynthesisLib.models.registry import find_model  # noqa: E402
from GANSynthesisLib.tasks.catalogue import get_task  # noqa: E402
from GANSynthesisLib.tasks.synthesis.contrast_phases import DEFAULT_PHASE, PHASES  # noqa: E402
from GANSynthesisTraining.data.paired_cases import phantom_cases  # noqa: E402
from GANSynthesisTraining.data.phantom_seeds import held_out_seeds  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["mmwhs-ct", "wholebody-ct"])
    parser.add_argument("--phantoms", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = phantom_cases(held_out_seeds(args.phantoms))
    task = get_task("synthesize")
    print(f"{len(cases)} held-out heart phantoms (7 MM-WHS labels only); body MAE / PSNR / SSIM, mean ± sd")
    print("| model | contrast | MAE (HU) | PSNR (dB) | SSIM |\n| --- | --- | --- | --- | --- |")
    for name in args.models:
        bundle = find_model(name, "synthesize")
        for phase, level in ((DEFAULT_PHASE, PHASES[DEFAULT_PHASE]), ("model", None)):
            scores = [image_metrics(case.target.array, task.run(case.source, bundle, {"contrast_hu": level},
                                                                InferenceOptions(device="cpu")).volume.array,
                                    case.body) for case in cases]
            cells = [f"{np.mean([s[k] for s in scores]):.{d}f} ± {np.std([s[k] for s in scores]):.{d}f}"
                     for k, d in (("mae", 0), ("psnr", 1), ("ssim", 3))]
            print(f"| {bundle.name} | {phase} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

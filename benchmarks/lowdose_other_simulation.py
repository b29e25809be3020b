"""The low-dose denoiser on held-out REAL CT slices made low-dose by a simulation other than the one it trained on.

Training pairs (GANSynthesisTraining.data.noise_insertion) are 1.5 mm slices, 240 parallel-beam views, a ramp filter,
doses as fractions of 10⁵ photons per ray plus electronic noise. Here the held-out slices of both real CTs (chest
slices 36–47, abdomen slices 84–111) stay at their own pixel size, are projected over 360 views, given Poisson
noise at a fixed 2·10⁴ photons per ray and no electronic noise, and reconstructed with the Shepp-Logan filter, the
noiseless sinogram the same way (the reference). The model runs through the translate task (it resamples to its
1.5 mm grid and back). Also: the noiseless reconstruction as input (what a clean scan loses). Means over slices, in
the body. Prints a Markdown table; not a test.

    python benchmarks/lowdose_other_simulation.py [--model lowdose-ct-real] [--photons 2e4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from GANSynthesisLib.models.registry import find_model  # noqa: E402
from GANSynthesisTraining.data.lowdose_pairs import SCANS, read_axial_hu  # noqa: E402
from GANSynthesisTraining.data.noise_insertion import HU_FLOOR, Projector, noisy_line_integrals  # noqa: E402
from GANSynthesisTraining.evaluation.lowdose_evaluation import model_denoiser, slice_metrics  # noqa: E402


def simulated(name: str, photons: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(references, low-dose inputs, pixel mm) of a scan's held-out slices at their own square pixel size."""
    hu, (sj, si) = read_axial_hu(name)
    if not np.isclose(sj, si):
        raise SystemExit(f"{name}: pixels of {sj} × {si} mm are not square")
    slices = np.maximum(hu[list(SCANS[name][2])], HU_FLOOR)
    projector = Projector(slices.shape[1:], float(sj), angles=360, filter_name="shepp-logan")
    rng = np.random.default_rng(seed)
    references, inputs = [], []
    for image in slices:
        clean = projector.project(image)
        references.append(projector.reconstruct(clean))
        inputs.append(projector.reconstruct(noisy_line_integrals(clean, 1.0, rng, full_dose_photons=photons,
                                                                 electronic_noise=0.0)))
    return np.stack(references), np.stack(inputs), float(sj)


def mean_metrics(references: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    rows = [slice_metrics(r, o) for r, o in zip(references, outputs)]
    return {key: float(np.nanmean([row[key] for row in rows])) for key in rows[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lowdose-ct-real", help="translate model name or bundle folder")
    parser.add_argument("--photons", type=float, default=2e4, help="photons per ray (unattenuated)")
    parser.add_argument("--seed", type=int, default=515)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    denoise = model_denoiser(find_model(args.model, "translate"))
    print("| scan (pixel) | input | method | MAE (HU) ↓ | PSNR (dB) ↑ | SSIM ↑ | noise std, flat (HU) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in SCANS:
        references, inputs, pixel = simulated(name, args.photons, args.seed)
        rows = {("low-dose", "input"): mean_metrics(references, inputs),
                ("low-dose", args.model): mean_metrics(references, denoise(inputs)),
                ("noiseless recon", "input"): mean_metrics(references, references),
                ("noiseless recon", args.model): mean_metrics(references, denoise(references))}
        for (given, method), m in rows.items():
            psnr = "∞" if not np.isfinite(m["psnr"]) else f"{m['psnr']:.2f}"
            print(f"| {name} ({pixel:.2f} mm) | {given} | {method} | {m['mae']:.1f} | {psnr} | {m['ssim']:.3f} | "
                  f"{m['noise_std']:.1f} |")
    print(f"\n{args.photons:g} photons per ray, 360 views, Shepp-Logan filter, no electronic noise; "
          f"{time.perf_counter() - start:.0f} s on the CPU ({args.threads} threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

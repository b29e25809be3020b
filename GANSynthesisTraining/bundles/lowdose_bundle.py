"""Export the real-CT low-dose denoiser as a translate bundle, evaluated on the held-out real slices."""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from GANSynthesisLib.engine.input_checks import histogram_distance, intensity_histogram, normalised_input
from GANSynthesisLib.models.bundle import load_bundle, save_bundle
from GANSynthesisLib.models.manifest import Manifest
from GANSynthesisLib.models.networks import count_parameters, network_spec

from GANSynthesisTraining.bundles.generator_bundle import export_generator
from GANSynthesisTraining.data.lowdose_pairs import EVAL_DOSES, PIXEL_MM, SCANS, TRAIN_DOSES, load_pairs
from GANSynthesisTraining.evaluation.lowdose_evaluation import (Evaluation, evaluate, figure, held_out_sets, model_denoiser, table_text,
                                 tune_baselines, tuning_pairs)
from GANSynthesisTraining.data.noise_insertion import ANGLES, ELECTRONIC_NOISE, FULL_DOSE_PHOTONS

NORMALISATION = {"type": "window", "low": -1024.0, "high": 2000.0}
DATA = ("real CT, axial slices resampled to 1.5 mm in-plane: pyradiomics_lung1_ct (chest CT, slices 0–33; "
        "pyradiomics 3.1.0 sdist data/lung1_image.nrrd, BSD-3-Clause) and ts_abdomen_ct (abdomen/pelvis CT, slices "
        "0–79; TotalSegmentator 2.18.0 sdist tests/reference_files/example_ct.nii.gz, Apache-2.0), made low-dose by "
        "projection-domain noise insertion")
HELD_OUT = ("held-out real slices never trained on and never used to tune a baseline: chest CT slices 36–47 and "
            "abdomen CT slices 84–111 (40 slices; slices 34–35 and 80–83 left unused as a gap)")
SIMULATION = (f"Each 1.5 mm slice → linear attenuation (water 0.0192/mm) → parallel-beam projection "
              f"(skimage radon, {ANGLES} views over 180°) → expected counts at dose × {FULL_DOSE_PHOTONS:.0e} photons "
              f"per ray → Poisson noise + Gaussian electronic noise (σ {ELECTRONIC_NOISE:g} counts) → log → filtered "
              "back-projection (ramp). The target is the filtered back-projection of the noiseless sinogram. "
              f"Training doses {TRAIN_DOSES[0]:.0%}–{TRAIN_DOSES[-1]:.0%} ({len(TRAIN_DOSES)} levels, each jittered "
              "±15 % per slice) plus noiseless inputs (15 % of samples).")


def input_statistics(pairs_dir: Path) -> dict:
    histograms = []
    for name in SCANS:
        pairs = load_pairs(pairs_dir / f"{name}_train.npz")
        for inputs in (pairs.inputs.reshape(-1, *pairs.inputs.shape[2:]), pairs.targets):
            histograms.append(intensity_histogram(normalised_input(inputs, NORMALISATION)))
    mean = np.mean(histograms, axis=0)
    spread = max(histogram_distance(h, mean) for h in histograms)
    return {"histogram": [round(float(v), 6) for v in mean], "warn_distance": round(max(0.1, 1.5 * spread), 3),
            "voxel_spacing_mm": {"in_plane": PIXEL_MM, "slice": 3.0},
            "data": "real chest and abdomen CT (pyradiomics lung1, TotalSegmentator example CT) at 5–100 % dose"}


def summary_metrics(table: dict) -> dict:
    """The 25 %-dose row in the layout the catalogue and cards read ('model', 'baselines'), beside the full table."""
    row = table["25 % dose"]
    return {"cases": "40 held-out real slices at 25 % dose", "model": row["model"],
            "baselines": {("low-dose input" if name == "input" else name) + " (25 % dose)": scores
                          for name, scores in row.items() if name != "model"}}


def manifest_for(args: argparse.Namespace, generator: torch.nn.Module, evaluation: Evaluation | None) -> dict:
    steps = getattr(generator, "steps_trained", None)
    adversarial = f"+ {args.adversarial:g} × LSGAN (PatchGAN on input+output)" if args.adversarial else "only (no adversarial term)"
    manifest = {
        "name": args.name, "version": "1.0.0", "task": "translate",
        "title": "Low-dose → normal-dose CT (trained on real CT texture)",
        "description": ("Residual CNN denoiser (input + 0.5 · ResNet(input), full resolution, no normalisation layers) "
                        "that removes CT noise slice by slice (axial). Trained on real chest and abdomen CT made "
                        "low-dose by projection-domain noise insertion; dose-blind (5–100 % and noiseless inputs)."),
        "input": {"kind": "image", "modality": "CT (low dose)", "normalisation": NORMALISATION,
                  "statistics": input_statistics(args.pairs)},
        "output": {"modality": "CT", "units": "HU", "normalisation": dict(NORMALISATION, range=[-1, 1])},
        "grid": {"plane": "axial", "in_plane_spacing_mm": [PIXEL_MM, PIXEL_MM], "in_plane_size": [256, 256]},
        "training": {"data": DATA, "dose_simulation": SIMULATION, "held_out": HELD_OUT,
                     "steps": steps, "batch_size": args.batch, "crop": args.crop,
                     "loss": f"L1 {adversarial}",
                     "device": "CPU (2 shared cores, no GPU was available)",
                     "summary": (f"{steps} steps of batch {args.batch} ({args.crop}² random crops, flips, 90° turns) "
                                 f"on 2 shared CPU cores, {args.minutes:g} minutes; L1 {adversarial}; Adam lr "
                                 f"{args.lr:g} with cosine decay; exported weights: EMA (decay {args.ema:g}). "
                                 + (f"{args.note} " if getattr(args, "note", None) else "") + SIMULATION),
                     "paired": True},
        "license": "Apache-2.0",
        "data_licences": ["pyradiomics 3.1.0 data/lung1_image.nrrd: BSD-3-Clause",
                          "TotalSegmentator 2.18.0 tests/reference_files/example_ct.nii.gz: Apache-2.0"],
        "intended_use": "research, not for diagnosis",
        "limits": [
            "Trained on two real CT scans only (one chest, one abdomen/pelvis; 114 slices), with simulated "
            "(parallel-beam, filtered back-projection) noise: real low-dose scans from a fan/cone-beam scanner with "
            "iterative reconstruction have differently shaped (correlated) noise that it has not seen.",
            "Works on a 1.5 mm in-plane grid: the translate path resamples other voxel sizes to 1.5 mm and back, so "
            "finer scans lose detail below that scale.",
            "It has not seen: heads, extremities, paediatric scans, metal, contrast-enhanced vessels beyond those in "
            "the two scans, doses below 5 %, other kernels or reconstructions.",
            "Research use only, not for diagnosis or treatment planning.",
        ],
    }
    if args.default:
        manifest["default"] = True
    if evaluation is not None:
        manifest["metrics"] = {**summary_metrics(evaluation.table), "data": HELD_OUT, "table": evaluation.table, "per_scan": evaluation.per_scan,
                               "baseline_parameters": evaluation.tuned,
                               "note": "mean over held-out slices; metrics in the body mask, PSNR/SSIM on "
                                       "[-1024, 3000] HU (data range 4024); noise std: flat soft-tissue regions"}
    return json.loads(json.dumps(manifest), parse_constant=lambda name: None)  # strict JSON: inf PSNR → null


def card(manifest: dict, evaluation: Evaluation) -> str:
    t = manifest["training"]
    lines = [f"# {manifest['title']} (`{manifest['name']}` v{manifest['version']})", "", manifest["description"], "",
             f"**Intended use:** {manifest['intended_use']}.", "",
             f"**Data:** {t['data']}. A file derived into this project keeps its source and licence: "
             + "; ".join(manifest["data_licences"]) + ". The bundle holds weights only, no image data.", "",
             f"**Dose simulation:** {t['dose_simulation']}", "",
             f"**Training:** {t['summary'].replace(t['dose_simulation'], '').strip()}", "",
             "## Held-out evaluation", "", f"{HELD_OUT}; the same simulation (another noise draw). Doses: "
             f"{', '.join(f'{d:.0%}' for d in EVAL_DOSES)} and the noiseless reconstruction itself (full dose). "
             "Baselines are scikit-image filters with their parameters tuned per dose on training slices only "
             "(every 6th): " + "; ".join(f"{k}: {v}" for k, v in evaluation.tuned.items()) + ".", "",
             table_text(evaluation.table), "",
             "Mean over the 40 held-out slices; MAE, PSNR and SSIM inside the body mask (PSNR and SSIM on "
             "[-1024, 3000] HU, data range 4024, as SynthRAD2023); noise std: the residual of a 7×7 local mean in "
             "flat soft-tissue regions of the target. The model ran through the `translate` task path.", "",
             "![held-out slice: input | baselines | model | target](held_out.png)", "",
             "## Limits", "", *[f"- {limit}" for limit in manifest["limits"]], ""]
    return "\n".join(lines)


def export_real_denoiser(args: argparse.Namespace, generator: torch.nn.Module) -> None:
    folder = Path(args.export)
    export_generator(folder, generator, manifest_for(args, generator, None))
    evaluation = run_evaluation(load_bundle(folder), args.pairs, args.run_dir)
    figure(evaluation, args.run_dir / "held_out.png")
    manifest = manifest_for(args, generator, evaluation)
    manifest["architecture"] = {"generator": network_spec(generator)}
    manifest["training"]["generator_parameters"] = count_parameters(generator)
    manifest["created"] = datetime.date.today().isoformat()
    shutil.copyfile(args.run_dir / "held_out.png", folder / "held_out.png")
    manifest["figure"] = "held_out.png"
    bundle = save_bundle(folder, Manifest.from_dict(manifest, folder, with_weights=False),
                         {"generator": generator.state_dict()})
    (folder / "README.md").write_text(card(bundle.manifest.to_dict(), evaluation))
    print(table_text(evaluation.table))


def run_evaluation(bundle, pairs_dir: Path, run_dir: Path) -> Evaluation:
    tuned_path = run_dir / "baseline_parameters.json"
    if tuned_path.exists():
        tuned = json.loads(tuned_path.read_text())
    else:
        tuned = tune_baselines(tuning_pairs(pairs_dir))
        tuned_path.write_text(json.dumps(tuned, indent=1))
    return evaluate(model_denoiser(bundle), held_out_sets(pairs_dir), tuned)

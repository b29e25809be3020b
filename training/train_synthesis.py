"""Train a label-map → CT pix2pix model, evaluate it on held-out cases and export a model bundle.

Examples:
  python -m training.train_synthesis --phantoms 40 --steps 3000 --run runs/demo --export Resources/Models/mmwhs-ct-phantom
  python -m training.train_synthesis --mmwhs /data/MM-WHS/ct_train --steps 100000 --device cuda --run runs/mmwhs
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from GANSynthesisLib.inference import InferenceOptions
from GANSynthesisLib.labels import MMWHS_LABELS
from GANSynthesisLib.synthesis import LabelToImageTranslator

from .datasets import LabelledCase, csv_cases, mmwhs_cases, phantom_cases
from .evaluation import evaluate_synthesis, label_mean_baseline
from .export import export_generator
from .pix2pix import Pix2PixConfig, Pix2PixTrainer
from .plots import save_image_grid
from .slices import SliceBank

HELD_OUT_SEED_BASE = 90_000  # phantom seeds at or above this are never used for training


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train_synthesis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--phantoms", type=int, metavar="N", help="train on N generated phantoms (seeds 0..N-1)")
    source.add_argument("--mmwhs", type=Path, metavar="DIR", help="MM-WHS folder of *_image.nii.gz / *_label.nii.gz")
    source.add_argument("--pairs-csv", type=Path, metavar="CSV", help="CSV with columns image,label[,id]")
    parser.add_argument("--held-out", type=int, default=6, help="held-out cases (phantoms: new seeds; datasets: "
                        "whole patients split off before training)")
    parser.add_argument("--run", type=Path, required=True, help="run folder: checkpoints, losses, snapshots")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    parser.add_argument("--export", type=Path, metavar="DIR", help="write the trained model bundle here")
    parser.add_argument("--name", default="mmwhs-ct-phantom", help="model name in the bundle")
    parser.add_argument("--spacing", type=float, default=3.0, help="in-plane model spacing (mm)")
    parser.add_argument("--canvas", type=int, default=128, help="training slice size (pixels)")
    parser.add_argument("--window", type=float, nargs=2, default=(-1024.0, 2000.0), metavar=("LOW", "HIGH"),
                        help="HU window mapped to [-1, 1]")
    parser.add_argument("--phantom-size", type=int, nargs=3, default=(128, 128, 48))
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for training")
    defaults = Pix2PixConfig()
    for f in fields(Pix2PixConfig):
        value = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, list):
            parser.add_argument(flag, type=int, nargs="*", default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    return parser.parse_args(argv)


def split_cases(cases: list[LabelledCase], held_out: int, seed: int) -> tuple[list, list]:
    """Patient-level split: whole cases go to one side only."""
    order = list(range(len(cases)))
    random.Random(seed).shuffle(order)
    test = [cases[i] for i in order[:held_out]]
    train = [cases[i] for i in order[held_out:]]
    return train, test


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = Pix2PixConfig(**{f.name: getattr(args, f.name) for f in fields(Pix2PixConfig)})
    label_values = list(MMWHS_LABELS.values())
    args.run.mkdir(parents=True, exist_ok=True)
    if args.phantoms:
        size = tuple(args.phantom_size)
        train = phantom_cases(list(range(args.phantoms)), size)
        test = phantom_cases(list(range(HELD_OUT_SEED_BASE, HELD_OUT_SEED_BASE + args.held_out)), size)
        data = (f"{args.phantoms} procedural thorax phantoms (GANSynthesisLib.phantom, seeds 0–{args.phantoms - 1}, "
                f"{size[0]}×{size[1]}×{size[2]} voxels at 3 mm); no patient data")
        test_data = f"held-out phantoms, seeds {HELD_OUT_SEED_BASE}–{HELD_OUT_SEED_BASE + args.held_out - 1}"
    else:
        cases = mmwhs_cases(args.mmwhs) if args.mmwhs else csv_cases(args.pairs_csv)
        train, test = split_cases(cases, args.held_out, config.seed)
        data = f"{len(train)} cases from {args.mmwhs or args.pairs_csv}"
        test_data = f"{len(test)} held-out patients"
    (args.run / "split.json").write_text(json.dumps({"train": [c.case_id for c in train],
                                                     "test": [c.case_id for c in test]}, indent=1))
    print(f"preparing {len(train)} training cases …", flush=True)
    window = tuple(args.window)
    bank = SliceBank.from_cases(train, label_values, args.spacing, args.canvas, window)
    print(f"{len(bank)} slices of {args.canvas}×{args.canvas} in memory", flush=True)

    fixed = SliceBank.from_cases(test[:2], label_values, args.spacing, args.canvas, window)
    heart = fixed.conditions[:, 1:].sum(dim=(1, 2, 3)).argsort(descending=True)[:: max(1, len(fixed) // 8)][:4]
    snapshot_condition, snapshot_target = fixed.conditions[heart].float(), fixed.targets[heart].float()
    (args.run / "snapshots").mkdir(exist_ok=True)

    def snapshot(generator: torch.nn.Module, step: int) -> None:
        generator.eval()
        with torch.no_grad():
            fake = generator(snapshot_condition.to(next(generator.parameters()).device)).float().cpu()
        generator.train()
        label_image = snapshot_condition.argmax(1).numpy()
        save_image_grid({"labels": list(label_image), "real": list(snapshot_target[:, 0].numpy()),
                         "synthetic": list(fake[:, 0].numpy())}, args.run / "snapshots" / f"step_{step:06d}.png",
                        {"labels": (0, 7, "nipy_spectral"), "real": (-1, 0.0, "gray"), "synthetic": (-1, 0.0, "gray")},
                        title=f"step {step}")

    trainer = Pix2PixTrainer(config, bank, args.run, snapshot)
    if args.resume and trainer.resume():
        print(f"resumed at step {trainer.step}", flush=True)
    trainer.train()

    print(f"evaluating on {len(test)} held-out cases …", flush=True)
    generator = trainer.generator.cpu().eval()
    translator = LabelToImageTranslator(generator, label_values, (args.spacing, args.spacing),
                                        generator.size_multiple, window)
    metrics = evaluate_synthesis(translator, test, label_mean_baseline(train, label_values),
                                 args.run / "held_out.png", InferenceOptions(device="cpu"))
    metrics["data"] = test_data
    (args.run / "metrics.json").write_text(json.dumps(metrics, indent=2))
    gan, base = metrics["gan"], metrics["baseline_label_mean_hu"]
    print(f"GAN      MAE {gan['mae']:.1f} HU  PSNR {gan['psnr']:.2f} dB  SSIM {gan['ssim']:.3f}")
    print(f"baseline MAE {base['mae']:.1f} HU  PSNR {base['psnr']:.2f} dB  SSIM {base['ssim']:.3f}")
    if args.export:
        device_note = "GPU" if config.device.startswith("cuda") else "CPU (small configuration, no GPU was available)"
        manifest = {
            "name": args.name, "version": "1.0.0", "task": "synthesize", "default": True,
            "title": "Cardiac CT from MM-WHS labels (phantom-trained demo)",
            "description": "pix2pix (U-Net generator, conditional PatchGAN) that turns a label map of the 7 MM-WHS "
                           "cardiac structures into a contrast-enhanced CT volume, slice by slice (axial).",
            "input": {"kind": "labelmap", "encoding": "one-hot (background + labels, in this order)",
                      "labels": dict(MMWHS_LABELS)},
            "output": {"modality": "CT", "units": "HU", "contrast": "contrast-enhanced (arterial) blood pool",
                       "normalisation": {"type": "window", "low": window[0], "high": window[1], "range": [-1, 1]}},
            "grid": {"plane": "axial", "in_plane_spacing_mm": [args.spacing, args.spacing],
                     "in_plane_size": [args.canvas, args.canvas]},
            "training": {"data": data, "steps": config.steps, "batch_size": config.batch_size,
                         "adversarial_loss": config.adversarial, "lambda_l1": config.lambda_l1, "device": device_note,
                         "summary": f"{config.steps} steps of batch {config.batch_size} on {device_note}, "
                                    f"{config.adversarial} + {config.lambda_l1:g}·L1, Adam {config.lr_g:g} β1 {config.beta1}"},
            "metrics": {k: v for k, v in metrics.items() if k != "per_case"},
            "license": "Apache-2.0", "intended_use": "research, not for diagnosis",
            "limits": ["Trained on procedural phantoms only: real patient CT looks different and the model has "
                       "never seen it.", "Only the 7 cardiac labels are given to the model: lungs, bones and the "
                       "body outline are invented, not measured.", "Axial slices at 3 mm in-plane; finer detail is "
                       "smoothed away.", "Research use only, not for diagnosis or treatment planning."],
        }
        bundle = export_generator(args.export, generator, manifest, args.run / "held_out.png")
        print(f"exported {bundle.name} to {bundle.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

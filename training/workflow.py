"""What every training command does: common options, patient-level split, snapshots, train → evaluate → export."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.engine.inference import InferenceOptions, run_translator
from GANSynthesisLib.engine.input_checks import input_range
from GANSynthesisLib.phantoms.thorax import SUPERSAMPLE_CHOICES
from GANSynthesisLib.tasks.translation.image_translation import ImageTranslator

from . import distributed
from .augment import Augmentation
from .datasets import phantom_cases
from .evaluation import Predictor, evaluate_cases
from .export import export_generator
from .pix2pix import Pix2PixTrainer
from .plots import save_image_grid
from .slices import SliceBank
from .trainer import GanTrainer, evaluating

HELD_OUT_SEED_BASE = 90_000  # phantom seeds at or above this are never used for training
VALIDATION_SEED_BASE = 70_000  # phantoms that validate during training (never trained on or tested)
AIR_BELOW_HU = -900.0  # validation error leaves out target pixels below this


def add_run_arguments(parser: argparse.ArgumentParser, default_name: str) -> None:
    parser.add_argument("--held-out", type=int, default=6, help="held-out cases (phantoms: new seeds; datasets: "
                        "whole patients split off before training)")
    parser.add_argument("--validation", type=int, default=0, help="validation cases, scored at every checkpoint "
                        "(phantoms: new seeds; datasets: whole patients split off before training)")
    parser.add_argument("--run-dir", type=Path, required=True, help="run folder: checkpoints, losses, snapshots")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    parser.add_argument("--export", type=Path, metavar="DIR", help="write the trained model bundle here")
    parser.add_argument("--name", default=default_name, help="model name in the bundle")
    parser.add_argument("--spacing", type=float, default=3.0, help="in-plane model spacing (mm)")
    parser.add_argument("--canvas", type=int, default=128, help="training slice size (pixels)")
    add_phantom_arguments(parser)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for training")
    parser.add_argument("--training-note", default="", help="sentence added to the model card's training summary "
                        "(e.g. how a resumed run changed its settings)")


def add_phantom_arguments(parser: argparse.ArgumentParser) -> None:
    """How generated phantoms are drawn (3 mm voxels)."""
    parser.add_argument("--phantom-size", type=int, nargs=3, default=(128, 128, 48), metavar=("X", "Y", "Z"),
                        help="phantom voxels")
    parser.add_argument("--phantom-supersample", type=int, choices=SUPERSAMPLE_CHOICES, default=1, metavar="N",
                        help="each phantom voxel averages N³ samples (1, 3 or 5), giving the partial volume of real "
                             "scans at tissue edges (the bundled models were trained with 1)")


def phantom_grid_text(args: argparse.Namespace) -> str:
    """How the phantoms were drawn, as model cards say it: '128×128×48 voxels at 3 mm'."""
    size = args.phantom_size
    return f"{size[0]}×{size[1]}×{size[2]} voxels at 3 mm" + partial_volume_text(args.phantom_supersample)


def partial_volume_text(supersample: int) -> str:
    """', partial volume from 3³ samples per voxel' for phantoms drawn with ``supersample`` > 1, else nothing."""
    return f", partial volume from {supersample}³ samples per voxel" if supersample > 1 else ""


def run_command(main: Callable[[], int]) -> int:
    """A training command's exit status: bad data (missing, unreadable, too few cases) ends in one ``error:`` line
    and status 2."""
    try:
        return main()
    except GANSynthesisError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def split_cases(cases: list, held_out: int, validation: int, seed: int) -> tuple[list, list, list]:
    """Patient-level split into (train, validation, test): whole cases go to one side only."""
    if held_out < 0 or validation < 0 or held_out + validation >= len(cases):
        raise GANSynthesisError(f"{len(cases)} cases leave none to train on with --held-out {held_out} and "
                                f"--validation {validation}; lower them or add cases")
    order = list(range(len(cases)))
    random.Random(seed).shuffle(order)

    def chosen(indices: list[int]) -> list:
        return [cases[i] for i in indices]

    return chosen(order[held_out + validation:]), chosen(order[held_out:held_out + validation]), chosen(order[:held_out])


def write_split(run_dir: Path, train: list, validation: list, test: list) -> None:
    """split.json: which cases trained, which validated during training and which were held out for testing."""
    (run_dir / "split.json").write_text(json.dumps({"train": [c.case_id for c in train],
                                                    "validation": [c.case_id for c in validation],
                                                    "test": [c.case_id for c in test]}, indent=1))


def resume_and_train(trainer: GanTrainer, resume: bool) -> None:
    """Continue from the run folder's checkpoint if asked (and there is one), then train to the end."""
    if resume and trainer.resume():
        print(f"resumed at step {trainer.step} ({trainer.run_dir})", flush=True)
    trainer.train()


def run_training(trainer: GanTrainer, resume: bool) -> bool:
    """Resume if asked, train, and say whether this process goes on to evaluate (rank 0)."""
    resume_and_train(trainer, resume)
    distributed.cleanup()  # evaluation and export happen on rank 0 alone
    return trainer.is_main


def train_pix2pix(args: argparse.Namespace, config, train: list, validation: list, test: list, encoder,
                  window: tuple[float, float], labels: bool) -> Pix2PixTrainer | None:
    """Slice banks from the cases, then pix2pix training; the trainer on rank 0, None on the others."""
    print(f"preparing {len(train)} training cases …", flush=True)
    bank = SliceBank.from_cases(train, encoder, args.spacing, args.canvas, window)
    print(f"{len(bank)} slices of {args.canvas}×{args.canvas} in memory", flush=True)
    fixed = SliceBank.from_cases(test[:2], encoder, args.spacing, args.canvas, window)
    trainer = Pix2PixTrainer(config, bank, args.run_dir, snapshot_writer(fixed, args.run_dir, labels))
    if validation:
        trainer.validate = validation_error(SliceBank.from_cases(validation, encoder, args.spacing, args.canvas,
                                                                 window), window)
    return trainer if run_training(trainer, args.resume) else None


def validation_phantoms(count: int, args: argparse.Namespace, source: str = "labels") -> list:
    """``count`` phantoms from the validation seeds, drawn as ``args`` asks (``phantom_cases``)."""
    return phantom_cases(list(range(VALIDATION_SEED_BASE, VALIDATION_SEED_BASE + count)), tuple(args.phantom_size),
                         source=source, supersample=args.phantom_supersample)


def validation_error(bank: SliceBank, window: tuple[float, float],
                     batch_size: int = 32) -> Callable[[GanTrainer], dict[str, float]]:
    """The generator's mean absolute error (HU) on the validation slices, over the pixels whose target is not air."""
    hu_per_unit = (window[1] - window[0]) / 2
    air = -1 + 2 * (AIR_BELOW_HU - window[0]) / (window[1] - window[0])  # in the targets' [-1, 1] units

    def score(trainer: GanTrainer) -> dict[str, float]:
        error, count = torch.zeros((), device=trainer.device), torch.zeros((), device=trainer.device)
        with evaluating(trainer.export_generator) as generator, trainer.autocast():
            for start in range(0, len(bank), batch_size):
                sources = bank.sources[start:start + batch_size].to(trainer.device).float()
                targets = bank.targets[start:start + batch_size].to(trainer.device).float()
                inside = targets > air
                error += ((generator(sources).float() - targets).abs() * inside).sum()
                count += inside.sum()
        return {"mae_hu": float(error / count.clamp(min=1)) * hu_per_unit}

    return score


def image_predictor(generator: torch.nn.Module, spacing: float, normalisation: dict,
                    output_window: tuple[float, float]) -> Predictor:
    """Whole-case prediction of an image-to-image generator, input normalised as its manifest will say."""

    def predict(case) -> np.ndarray:
        translator = ImageTranslator(generator, (spacing, spacing), generator.size_multiple,
                                     input_range(case.source.array, normalisation), output_window)
        return run_translator(translator, case.source, InferenceOptions(device="cpu")).array

    return predict


def held_out_seeds(count: int) -> list[int]:
    return list(range(HELD_OUT_SEED_BASE, HELD_OUT_SEED_BASE + count))


def drawn_seeds_text(seeds: list[int], supersample: int) -> str:
    """Consecutive phantom seeds and how they were drawn, as model cards name them: 'seeds 90000–90005' (one:
    'seed 90000'), then :func:`partial_volume_text`."""
    named = f"seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return named + partial_volume_text(supersample)


def held_out_phantoms_text(args: argparse.Namespace) -> str:
    """The held-out phantoms as model cards name them: 'seeds 90000–90005[, partial volume …]'."""
    return drawn_seeds_text(held_out_seeds(args.held_out), args.phantom_supersample)


def snapshot_writer(fixed: SliceBank, run_dir: Path, labels: bool) -> Callable[[GanTrainer, int], None]:
    """Writes snapshots/step_NNNNNN.png: source | target | output of fixed held-out slices."""
    foreground = fixed.sources[:, 1:].sum(dim=(1, 2, 3)) if labels else (fixed.targets > -0.9).sum(dim=(1, 2, 3))
    chosen = foreground.argsort(descending=True)[:: max(1, len(fixed) // 8)][:4]
    sources, targets = fixed.sources[chosen].float(), fixed.targets[chosen].float()
    (run_dir / "snapshots").mkdir(parents=True, exist_ok=True)

    def snapshot(trainer: GanTrainer, step: int) -> None:
        with evaluating(trainer.export_generator) as generator:
            fake = generator(sources.to(trainer.device)).float().cpu()
        shown_sources = sources.argmax(1) if labels else sources[:, 0]
        source_style = (0, sources.shape[1] - 1, "nipy_spectral") if labels else (-1, 1, "gray")
        save_image_grid({"source": list(shown_sources.numpy()), "target": list(targets[:, 0].numpy()),
                         "output": list(fake[:, 0].numpy())}, run_dir / "snapshots" / f"step_{step:06d}.png",
                        {"source": source_style, "target": (-1, 0, "gray"), "output": (-1, 0, "gray")},
                        title=f"step {step}")

    return snapshot


def print_metrics(metrics: dict) -> None:
    rows = [("model", metrics["model"]), *metrics["baselines"].items()]
    for name, m in rows:
        print(f"{name:40s} MAE {m['mae']:7.1f} HU  PSNR {m['psnr']:6.2f} dB  SSIM {m['ssim']:.3f}")


def evaluate_and_export(args: argparse.Namespace, trainer: GanTrainer, test_cases: list, predict: Predictor,
                        baselines: list, manifest: dict, test_data: str) -> dict:
    """Held-out metrics (model and baselines) to metrics.json and held_out.png; bundle export if asked."""
    print(f"evaluating on {len(test_cases)} held-out cases …", flush=True)
    metrics = evaluate_cases(test_cases, predict, baselines, args.run_dir / "held_out.png",
                             title=f"held-out: source | target | {args.name} | difference (HU)")
    metrics["data"] = test_data
    (args.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print_metrics(metrics)
    if args.export:
        manifest = manifest | {"metrics": {k: v for k, v in metrics.items() if k != "per_case"}}
        bundle = export_generator(args.export, trainer.export_generator.cpu().eval(), manifest,
                                  args.run_dir / "held_out.png")
        print(f"exported {bundle.name} to {bundle.path}")
    return metrics


def training_summary(config, data: str, note: str = "") -> dict:
    device = "GPU" if config.device.startswith("cuda") else "CPU (small configuration, no GPU was available)"
    summary = (f"{config.steps} steps of batch {config.batch_size} on {device}, {config.adversarial} adversarial "
               f"loss, Adam lr {config.lr_g:g} β1 {config.beta1}")
    if config.ema_decay:
        summary += f", exported weights: EMA (decay {config.ema_decay:g})"
    augmentation = Augmentation.from_config(config)
    if augmentation.active:
        summary += f", {augmentation.describe()}"
    return {"data": data, "steps": config.steps, "batch_size": config.batch_size, "adversarial_loss": config.adversarial,
            "device": device, "summary": summary + (f". {note}" if note else "")}

"""Train the whole-body (wholebody-v1) 2.5-D label-map → CT pix2pix model and export it as a bundle.

Input: per pixel the classes of the slice and its two neighbours (one-hot, 3 × 15 channels) and the 14 "given"
flags of the volume (see GANSynthesisLib.anatomy.wholebody_classes); output: CT in the [-1024, 2000] HU window. Data: whole-body
phantoms and the real CTs' training slices (GANSynthesisTraining/data/wholebody_data.py), each in several label variants (full,
TotalSegmentator-like, no body outline, coarse), so the model learns to work from what users have.

Examples:
  nice -n 10 python -m GANSynthesisTraining wholebody --phantoms 24 --steps 1500 --threads 2 --run-dir runs/wb
  python -m GANSynthesisTraining wholebody --phantoms 200 --steps 20000 --batch-size 32 --crop 256 --device cuda ...
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from GANSynthesisLib.anatomy.wholebody_classes import (INPUT_CHANNELS, LABEL_SET, centre_classes, unpack_codes,
                                                       wholebody_labels)
from GANSynthesisLib.models.manifest import InputSpec, Manifest
from GANSynthesisLib.phantoms.wholebody import generate_wholebody_phantom
from GANSynthesisTraining.bundles.manifest_parts import axial_grid, ct_output
from GANSynthesisTraining.command_line.arguments import (add_config_arguments, add_data_arguments, add_threads_argument,
                                                         config_from_arguments)
from GANSynthesisTraining.command_line.main import command_main
from GANSynthesisTraining.data.augmentation import Augmentation
from GANSynthesisTraining.data.wholebody_data import (CARDIAC_VARIANTS, REAL_SPLITS, VARIANTS, load_real, packed,
                                                      to_model_grid, variant)
from GANSynthesisTraining.families.pix2pix.model import Pix2PixConfig, Pix2PixTrainer, build_generator
from GANSynthesisTraining.loop.trainer import BATCH_NORM_BATCHES, recalibrate_batch_norm

WINDOW = (-1024.0, 2000.0)


@dataclass
class CodeBank:
    """Packed 2.5-D class codes (N, canvas, canvas) int32 and targets (N, 1, canvas, canvas) fp16 in [-1, 1]; batches
    are random crops, mirrored left-right with probability ½ (classes resampled by nearest neighbour, as
    GANSynthesisLib.tasks.synthesis.wholebody does before the engine)."""

    codes: torch.Tensor
    targets: torch.Tensor
    crop: int = 128
    device: torch.device = torch.device("cpu")

    @property
    def channels(self) -> int:
        return INPUT_CHANNELS

    def __len__(self) -> int:
        return self.codes.shape[0]

    def to(self, device: torch.device) -> "CodeBank":
        return CodeBank(self.codes.to(device), self.targets.to(device), self.crop, device)

    def sample(self, batch_size: int, generator: torch.Generator,
               augmentation: Augmentation = Augmentation()) -> tuple[torch.Tensor, torch.Tensor]:
        n, h, w = self.codes.shape
        index = torch.randint(n, (batch_size,), generator=generator)
        top = torch.randint(0, h - self.crop + 1, (batch_size,), generator=generator)
        left = torch.randint(0, w - self.crop + 1, (batch_size,), generator=generator)
        flips = torch.rand(batch_size, generator=generator) < 0.5
        codes, targets = [], []
        for b in range(batch_size):
            t, l = int(top[b]), int(left[b])
            c = self.codes[index[b], t:t + self.crop, l:l + self.crop]
            y = self.targets[index[b], :, t:t + self.crop, l:l + self.crop]
            if flips[b]:
                c, y = c.flip(-1), y.flip(-1)
            codes.append(c)
            targets.append(y)
        x = unpack_codes(torch.stack(codes).to(self.device))
        return x, torch.stack(targets).to(self.device).float()


def to_unit(hu: np.ndarray) -> np.ndarray:
    """HU in :data:`WINDOW` mapped to [-1, 1] (fp16)."""
    low, high = WINDOW
    return (2 * (np.clip(hu, low, high) - low) / (high - low) - 1).astype(np.float16)


HEART_CLASSES = ("heart", "myocardium", "cardiac blood pool", "artery")  # what an MM-WHS-style map gives
HEART_ONLY_REAL = ("lung1",)  # the real CT with contrast-filled vessels


def is_heart_only(variants: Sequence[str]) -> bool:
    """Whether a run trains on MM-WHS-style input alone (the cardiac structures and great vessels)."""
    return set(variants) <= set(CARDIAC_VARIANTS)


def real_variants(variants: Sequence[str]) -> list[str]:
    """The label variants a real CT is given in: the non-cardiac ones (the real CTs have no cardiac labels); all of
    them when only cardiac variants are asked for (a real CT's contrast-filled vessels are then its great vessels)."""
    return [v for v in variants if v not in CARDIAC_VARIANTS] or list(variants)


def build_bank(phantoms: int, spacing: float, canvas: int, crop: int, seed: int, real_repeats: int = 2,
               phantom_size: tuple[int, int, int] = (256, 256, 32), variants: Sequence[str] = tuple(VARIANTS)
               ) -> tuple[CodeBank, dict]:
    """The training bank (each phantom in two of ``variants``, each real CT's training slices in every variant
    that fits it, slices with no given class left out) and a summary of what is in it. A heart-only bank takes the
    one real CT with contrast (lung1), whose vessels stand for great vessels; the abdomen CT has no contrast and its
    threshold "vessels" are calcified specks."""
    rng = np.random.default_rng(seed)
    codes, targets, summary = [], [], {"phantom_slices": 0, "real_slices": {}}
    names = list(variants)
    for s in range(phantoms):
        p = generate_wholebody_phantom(s, phantom_size, (spacing, spacing, 3.0))
        hu = p.ct.array  # phantoms are drawn in (k, j, i) = axial order already (LPS, identity direction)
        for v in rng.choice(names, min(2, len(names)), replace=False):
            h, c = to_model_grid(hu, packed(variant(p.classes.array, v)), (3.0, spacing, spacing), spacing, canvas)
            codes.append(c)
            targets.append(to_unit(h))
            summary["phantom_slices"] += len(c)
    for name in (HEART_ONLY_REAL if is_heart_only(names) else REAL_SPLITS):
        case = load_real(name)
        start, stop = case.train
        for v in real_variants(names):
            h, c = to_model_grid(case.hu, packed(variant(case.classes, v)), case.spacing_kji, spacing, canvas)
            given = start + np.flatnonzero(centre_classes(c[start:stop]).any(axis=(1, 2)))
            for _ in range(real_repeats):
                codes.append(c[given])
                targets.append(to_unit(h[given]))
        summary["real_slices"][name] = [start, stop]
    bank = CodeBank(torch.from_numpy(np.concatenate(codes)), torch.from_numpy(np.concatenate(targets))[:, None], crop)
    summary["bank_slices"] = len(bank)
    return bank, summary


def real_words(real_slices: dict) -> str:
    """The real CTs a run trained on, in a few words for the card's limits."""
    if list(real_slices) == ["lung1"]:
        return "one small real CT (lung1, its contrast-filled vessels as the only labels)"
    return "three small real CTs (two of them the same patient)"


def manifest_for(args: argparse.Namespace, config: Pix2PixConfig, summary: dict, seconds: float) -> Manifest:
    """The model's manifest (architecture and metrics come at export and evaluation): a whole-body model, or with
    only the heart-only variant a cardiac model that takes the 7 MM-WHS structures (the heart classes)."""
    real = ", ".join(f"{name} slices {a}–{b - 1}" for name, (a, b) in summary["real_slices"].items())
    heart_only = is_heart_only(args.variants)
    labels = wholebody_labels()
    if heart_only:
        labels = {name: value for name, value in labels.items() if name in HEART_CLASSES}
        title = "Cardiac CT from the 7 MM-WHS structures (2.5-D, phantoms + real CT)"
        task = ("turns a map of the 7 MM-WHS cardiac structures (or a whole heart and great vessels) alone into a "
                "contrast-enhanced chest CT, drawing the body, lungs and bones itself")
        variants = (f"label variant heart only (phantoms: the 7 cardiac structures and great vessels; real CTs: "
                    f"their contrast-filled vessels as great vessels, slices with none left out)")
    else:
        title = "Whole-body CT from TotalSegmentator-style labels (2.5-D, phantoms + real CT)"
        task = ("turns a whole-body segmentation (TotalSegmentator names or numbers, MM-WHS names, or coarse classes "
                "such as body, lung, bone, fat, soft tissue, heart) into a contrast-enhanced CT")
        variants = f"label variants {', '.join(args.variants)} (heart only: phantoms)"
    return Manifest(
        name=args.name, version="1.0.0", task="synthesize", default=not heart_only, architecture={},
        title=title,
        description=f"pix2pix (U-Net generator, conditional PatchGAN) that {task}. 2.5-D: each axial slice is made "
                    "with its two neighbours' labels as extra input channels, so reformats have no slice stripes.",
        input=InputSpec(kind="labelmap", label_set=LABEL_SET, labels=labels, extra={"context_slices": 1},
                        encoding="2.5-D packed classes (label_sets.py): one-hot of slices k-1, k, k+1 (15 classes "
                                 "each) + 14 given-class flags"),
        output=ct_output(WINDOW, contrast="contrast-enhanced (arterial) vessels and blood pool"),
        grid=axial_grid(args.spacing, args.canvas),
        training={
            "data": (f"{args.phantoms} whole-body procedural thorax phantoms (GANSynthesisLib.phantoms.wholebody, "
                     f"seeds 0–{args.phantoms - 1}) and real CT slices from ../shared/data: {real}; {variants}. "
                     "Real CT sources: TotalSegmentator 2.18.0 test files (Apache-2.0; labels are TotalSegmentator's "
                     "automatic output), pyradiomics 3.1.0 lung1 (BSD-3-Clause); threshold label maps drawn here."),
            "steps": config.steps, "batch_size": config.batch_size, "crop": args.crop,
            "adversarial_loss": config.adversarial, "lambda_l1": config.lambda_l1,
            "device": args.device_note, "seconds": round(seconds),
            "summary": (("continued from " + summary["initialised_from"] + ", then " if "initialised_from" in summary
                         else "") + f"{config.steps} steps of batch {config.batch_size} ({args.crop}² crops at {args.spacing} mm) "
                        f"on {args.device_note}, {config.adversarial} + {config.lambda_l1:g}·L1, Adam lr "
                        f"{config.lr_g:g} β1 {config.beta1:g}"),
            "bank_slices": summary["bank_slices"],
            **({"initialised_from": summary["initialised_from"]} if "initialised_from" in summary else {}),
        },
        limits=(
            f"Trained briefly (see Training) on phantoms and {real_words(summary['real_slices'])}: real texture "
            "and anatomy are only partly learned.",
            *(("Only the heart and great vessels are given: the body outline, lungs and bones are the model's own "
               "guess.",) if heart_only else ()),
            "The blood in arteries and heart chambers is set to the contrast phase asked for (default arterial, 350 "
            "HU, a CT angiogram), not learned: state the scan's phase (--contrast venous, none, or a number of HU).",
            "Regions the segmentation does not give (e.g. no body outline) are drawn by the model; the run says which.",
            "Research use only, not for diagnosis or treatment planning."))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Phantoms, model grid, run folder, export and pix2pix settings."""
    add_data_arguments(parser, [], choose_one=False, phantoms_default=24,
                       phantoms="whole-body phantoms (seeds 0..N-1) beside the real CTs' training slices")
    parser.add_argument("--spacing", type=float, default=1.5, help="in-plane mm of the model grid")
    parser.add_argument("--canvas", type=int, default=256, help="model grid size (pixels)")
    parser.add_argument("--crop", type=int, default=128, help="training crop (pixels)")
    parser.add_argument("--run-dir", type=Path, required=True, help="run folder: checkpoints, losses, manifest draft")
    parser.add_argument("--export", type=Path, help="bundle folder to write")
    parser.add_argument("--name", default="wholebody-ct", help="model name in the bundle")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), metavar="VARIANT",
                        help=f"label variants to train on ({', '.join(map(repr, VARIANTS))}; default: all); "
                             "'heart only' alone makes a cardiac (MM-WHS) model")
    add_threads_argument(parser, 0)
    parser.add_argument("--device-note", default="CPU (2 shared cores)", help="the device as the model card names it")
    parser.add_argument("--export-checkpoint", type=Path, metavar="FOLDER",
                        help="only export the run folder's checkpoint as a bundle to FOLDER")
    parser.add_argument("--init-from", type=Path, metavar="BUNDLE",
                        help="start the generator from this whole-body bundle's weights (same architecture), e.g. to "
                             "continue a GPU run on the CPU or fine-tune on your own data; ignored when resuming")
    add_config_arguments(parser, Pix2PixConfig)


def export_checkpoint(args: argparse.Namespace, config: Pix2PixConfig, folder: Path) -> None:
    """Export the run folder's checkpoint (its EMA generator when kept) as a bundle, e.g. while training goes on."""
    from safetensors.torch import load_file

    from GANSynthesisTraining.bundles.generator_bundle import export_generator
    from GANSynthesisTraining.loop.checkpoint import CHECKPOINT_STATE, CHECKPOINT_TENSORS

    tensors = load_file(str(args.run_dir / CHECKPOINT_TENSORS))
    step = json.loads((args.run_dir / CHECKPOINT_STATE).read_text())["step"]
    prefix = "generator_ema." if any(k.startswith("generator_ema.") for k in tensors) else "generator."
    generator = build_generator(config, INPUT_CHANNELS)
    generator.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    if prefix == "generator_ema.":  # its batch-norm statistics are the trained weights'; estimate its own
        bank, _ = build_bank(args.phantoms, args.spacing, args.canvas, args.crop, config.seed,
                             variants=args.variants)
        sampler = torch.Generator().manual_seed(config.seed)
        recalibrate_batch_norm(generator, (bank.sample(config.batch_size, sampler)[0]
                                           for _ in range(BATCH_NORM_BATCHES)))
    draft = args.run_dir / "manifest_draft.json"
    if draft.exists():
        manifest = Manifest.from_dict(json.loads(draft.read_text()), draft, with_weights=False)
    else:
        manifest = manifest_for(args, config, {"real_slices": {n: list(s[2]) for n, s in REAL_SPLITS.items()},
                                               "bank_slices": None}, 0)
        manifest = replace(manifest, training=manifest.training | {
            "steps": step, "summary": f"checkpoint at step {step} of: " + manifest.training["summary"]})
    export_generator(folder, generator.eval(), manifest)
    print(f"exported step {step} to {folder}", flush=True)


def initialise_generator(trainer: Pix2PixTrainer, folder: Path) -> str:
    """Load a whole-body bundle's generator weights into the trainer (EMA restarted from them); what was loaded."""
    from GANSynthesisLib.core.errors import GANSynthesisError
    from GANSynthesisLib.models.bundle import load_bundle
    from GANSynthesisLib.models.networks import network_spec

    bundle = load_bundle(folder)
    wanted, found = network_spec(trainer.generator), bundle.manifest.architecture.get("generator")
    if bundle.manifest.input.label_set != LABEL_SET or found != wanted:
        raise GANSynthesisError(
            f"--init-from {folder}: its generator {found} is not this run's {wanted} ({LABEL_SET}); pass the "
            "--g-base-width, --g-depth, --g-max-width and --g-dropout it was trained with.")
    weights = {k: v.float() for k, v in bundle.load_weights("generator").items()}
    trainer.generator.load_state_dict(weights)
    trainer.start_ema()
    return f"{bundle.name} ({bundle.manifest.training.get('summary', 'training not recorded')})"


def run(args: argparse.Namespace) -> int:
    """Export the checkpoint if asked; else build the bank, train (resuming), draft the manifest, export if asked."""
    config = config_from_arguments(Pix2PixConfig, args)
    if args.export_checkpoint:
        export_checkpoint(args, config, args.export_checkpoint)
        return 0
    started = time.monotonic()
    bank, summary = build_bank(args.phantoms, args.spacing, args.canvas, args.crop, config.seed,
                               variants=args.variants)
    print(f"bank: {len(bank)} slices ({summary}) in {time.monotonic() - started:.0f} s", flush=True)
    trainer = Pix2PixTrainer(config, bank, args.run_dir)
    if not trainer.resume() and args.init_from:
        summary["initialised_from"] = initialise_generator(trainer, args.init_from)
    train_started = time.monotonic()
    trainer.train()
    trainer.settle_batch_norm()
    seconds = time.monotonic() - train_started
    manifest = manifest_for(args, config, summary, seconds)
    (args.run_dir / "manifest_draft.json").write_text(json.dumps(manifest.to_dict(), indent=2))
    if args.export:
        from GANSynthesisTraining.bundles.generator_bundle import export_generator

        export_generator(args.export, trainer.export_generator.cpu().eval(), manifest)
        print(f"exported {args.export}", flush=True)
    return 0


main = command_main("wholebody")

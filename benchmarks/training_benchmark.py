"""pix2pix training throughput, three ways, same networks, one run on one device:

1. reference-style loop: batch 1, fp32, every sample read from its own pair of slice files (8-bit label PNG,
   16-bit CT PNG), one-hot encoded, normalised and flipped on the CPU, then copied to the device (how the
   pix2pix reference trains: one image file per sample, decoded and transformed by the data loader);
2. this project's trainer end to end: slices held on the device, batches sampled and augmented there (per-sample
   flip, rotation ±10°, zoom ±10%; ``--no-augment`` for none), bf16 autocast and channels_last on GPU, losses
   synced every log_every steps;
3. the same step on one fixed batch already on the device (compute only).

Prints images/s, the ratios 2/1 (speed-up) and 2/3 (data-pipeline efficiency) and, on a GPU, how often one
end-to-end step makes the host wait for the GPU (CUDA's sync debug mode; 0 is the aim). Not a test.

    python benchmarks/training_benchmark.py [--device cuda] [--canvas 256] [--batch-size 64] [--g-depth 8 …] [--compile]

Needs no SimpleITK (slice files are PNGs), so it runs in a stock PyTorch GPU image.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from GANSynthesisLib.models.manifest import Normalisation  # noqa: E402
from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS  # noqa: E402
from GANSynthesisTraining.data.paired_cases import phantom_cases  # noqa: E402
from GANSynthesisTraining.data.slice_banks import NormalisedImage, OneHotLabels, SliceBank  # noqa: E402
from GANSynthesisTraining.families.pix2pix.model import Pix2PixConfig, Pix2PixTrainer  # noqa: E402

WINDOW = (-1024.0, 2000.0)
HU_OFFSET = 1024  # 16-bit PNGs hold HU + 1024 (CT values from -1024 HU up)


def write_slice_files(cases: list, folder: Path) -> list[tuple[Path, Path]]:
    """Each axial slice of each case as an 8-bit label PNG and a 16-bit CT PNG (HU + 1024)."""
    files = []
    for case in cases:
        for k in range(case.source.array.shape[0]):
            label_path, image_path = folder / f"{case.case_id}_{k}_label.png", folder / f"{case.case_id}_{k}_ct.png"
            Image.fromarray(case.source.array[k].astype(np.uint8)).save(label_path)
            hu = np.clip(np.rint(case.target.array[k]) + HU_OFFSET, 0, 65535).astype(np.uint16)
            Image.fromarray(hu).save(image_path)
            files.append((label_path, image_path))
    return files


def timed_steps(trainer: Pix2PixTrainer, steps: int, batch_for_step) -> float:
    """Images per second over ``steps`` training steps (after 3 warm-up steps)."""
    for _ in range(3):
        trainer.train_step(batch_for_step())
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    losses = torch.zeros(3, device=trainer.device)
    for _ in range(steps):
        losses += trainer.train_step(batch_for_step())
    losses.tolist()  # one host sync, as the trainer's logging does
    return steps * trainer.config.batch_size / (time.perf_counter() - start)


def host_syncs_per_step(trainer: Pix2PixTrainer, steps: int = 3) -> float:
    """How many times one end-to-end step (sample + train) makes the host wait for the GPU."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                trainer.train_step(trainer.sample())
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("called a synchronizing CUDA operation" in str(w.message) for w in caught) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--canvas", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--g-base-width", type=int, default=32)
    parser.add_argument("--g-depth", type=int, default=7)
    parser.add_argument("--g-max-width", type=int, default=128)
    parser.add_argument("--d-base-width", type=int, default=32)
    parser.add_argument("--compile", action="store_true", help="torch.compile the project's networks")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                        help="on-device augmentation in the project's pipeline (flip, rotation ±10°, zoom ±10%%)")
    args = parser.parse_args()
    network = dict(g_base_width=args.g_base_width, g_depth=args.g_depth, g_max_width=args.g_max_width,
                   d_base_width=args.d_base_width, device=args.device, snapshot_steps=[])
    cases = phantom_cases(list(range(args.cases)), (args.canvas, args.canvas, 32))  # 3 mm: slices are canvas²
    encoder = OneHotLabels(list(MMWHS_LABELS.values()))
    bank = SliceBank.from_cases(cases, encoder, 3.0, args.canvas, WINDOW)
    print(f"device {args.device}; {len(bank)} slices {args.canvas}²; U-Net depth {args.g_depth}, "
          f"width {args.g_base_width}–{args.g_max_width}; {args.steps} timed steps"
          + ("; torch.compile" if args.compile else ""))

    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder)
        files = write_slice_files(cases, run)
        rng = np.random.default_rng(0)
        ct_encoder = NormalisedImage(Normalisation("window", low=WINDOW[0], high=WINDOW[1]))
        device = torch.device(args.device)

        def reference_sample():
            label_path, image_path = files[rng.integers(len(files))]
            labels = np.asarray(Image.open(label_path))[None]
            hu = np.asarray(Image.open(image_path)).astype(np.float32)[None] - HU_OFFSET
            source, target = encoder.encode(labels), ct_encoder.encode(hu)
            if rng.random() < 0.5:
                source, target = source.flip(-1), target.flip(-1)
            return source.to(device), target.to(device)

        reference = Pix2PixTrainer(Pix2PixConfig(batch_size=1, mixed_precision=False, **network), bank, run / "ref")
        reference_rate = timed_steps(reference, args.steps * 4, reference_sample)
        del reference

        augmentation = dict(flip=True, rotation_deg=10.0, scaling=0.1) if args.augment else {}
        project = Pix2PixTrainer(Pix2PixConfig(batch_size=args.batch_size, compile=args.compile, **network,
                                               **augmentation), bank, run / "project")
        end_to_end = timed_steps(project, args.steps, project.sample)
        syncs = host_syncs_per_step(project) if device.type == "cuda" else None
        fixed = project.sample()
        compute_only = timed_steps(project, args.steps, lambda: fixed)

    rates = {"reference-style loop (batch 1, fp32, per-sample PNG loading)": reference_rate,
             f"project trainer end to end (batch {args.batch_size}{', augmented' if args.augment else ''})": end_to_end,
             "project step, compute only (fixed batch)": compute_only}
    for label, rate in rates.items():
        print(f"{label + ':':<64}{rate:9.1f} images/s")
    print(f"speed-up over the reference loop: {end_to_end / reference_rate:.1f}×; "
          f"data-pipeline efficiency: {100 * end_to_end / compute_only:.0f}% of compute-only")
    if syncs is not None:
        print(f"host syncs per end-to-end step: {syncs:g}")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()

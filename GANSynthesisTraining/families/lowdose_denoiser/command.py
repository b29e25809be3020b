"""Train the real-CT low-dose denoiser (residual CNN, L1, optionally + LSGAN) on projection-domain noise insertion.

  python -m GANSynthesisTraining lowdose-pairs --out runs/ldreal                      # pairs (training and held-out slices)
  python -m GANSynthesisTraining lowdose-real --pairs runs/ldreal --run-dir runs/ldreal --minutes 18 \
      --export Resources/Models/lowdose-ct-real
  python benchmarks/lowdose_real_ct.py --model Resources/Models/lowdose-ct-real   # held-out table + picture

The network is a ResidualGenerator (input + 0.5 · ResNet(input)) on full-resolution 1.5 mm slices: it predicts the
noise and subtracts it. Each batch mixes doses from 5 % to 100 % and noise-free inputs (the noiseless reconstruction
as input, whose target is itself), so it learns to leave a clean slice almost alone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from GANSynthesisLib.models.networks import build_network
from GANSynthesisTraining.command_line.arguments import add_data_arguments, add_threads_argument
from GANSynthesisTraining.command_line.main import command_main
from GANSynthesisTraining.data.lowdose_pairs import SCANS, load_pairs

WINDOW = (-1024.0, 2000.0)
CLEAN_SHARE = 0.15  # share of training samples whose input is the noiseless reconstruction itself


def to_unit(hu: np.ndarray) -> np.ndarray:
    """HU in the model window mapped to [-1, 1]."""
    low, high = WINDOW
    return (np.clip(hu, low, high) - low) / (high - low) * 2 - 1


def generator_spec(width: int, blocks: int) -> dict:
    """The denoiser's network spec: input + 0.5 · full-resolution ResNet(input)."""
    return {"type": "ResidualGenerator", "scale": 0.5,
            "inner": {"type": "ResnetGenerator", "in_channels": 1, "out_channels": 1, "base_width": width,
                      "n_blocks": blocks, "n_downsampling": 0, "norm": "none", "dropout": 0.0}}


class CropSampler:
    """Random (input, target) crops from the training pairs, with flips and 90° turns."""

    def __init__(self, pair_sets: list, crop: int, seed: int) -> None:
        self.sets = [(torch.from_numpy(to_unit(p.inputs).astype(np.float32)),
                      torch.from_numpy(to_unit(p.targets).astype(np.float32))) for p in pair_sets]
        self.weights = np.array([len(t) for _, t in self.sets], float)
        self.weights /= self.weights.sum()
        self.crop = crop
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for _ in range(size):
            inputs, targets = self.sets[self.rng.choice(len(self.sets), p=self.weights)]
            n, doses, rows, cols = inputs.shape
            k = self.rng.integers(n)
            top, left = self.rng.integers(0, rows - self.crop + 1), self.rng.integers(0, cols - self.crop + 1)
            window = (slice(top, top + self.crop), slice(left, left + self.crop))
            y = targets[k][window]
            x = y if self.rng.random() < CLEAN_SHARE else inputs[k, self.rng.integers(doses)][window]
            turns, flip = int(self.rng.integers(4)), bool(self.rng.integers(2))
            x, y = torch.rot90(x, turns), torch.rot90(y, turns)
            if flip:
                x, y = x.flip(-1), y.flip(-1)
            xs.append(x)
            ys.append(y)
        return torch.stack(xs)[:, None], torch.stack(ys)[:, None]


def train(args: argparse.Namespace) -> torch.nn.Module:
    """The EMA generator after training within the --minutes and --steps budget; the log goes to the run folder."""
    pair_sets = [load_pairs(args.pairs / f"{name}_train.npz") for name in SCANS]
    sampler = CropSampler(pair_sets, args.crop, args.seed)
    generator = build_network(generator_spec(args.width, args.blocks))
    if args.init:
        from safetensors.torch import load_file

        generator.load_state_dict({k: v.float() for k, v in load_file(str(args.init)).items()})
    ema = build_network(generator_spec(args.width, args.blocks))
    ema.load_state_dict(generator.state_dict())
    optimiser = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.9, 0.999))
    discriminator = d_optimiser = None
    if args.adversarial > 0:
        discriminator = build_network({"type": "PatchDiscriminator", "in_channels": 2, "base_width": 32,
                                       "n_layers": 2, "norm": "instance"})
        d_optimiser = torch.optim.Adam(discriminator.parameters(), lr=args.lr, betas=(0.5, 0.999))
    deadline = time.monotonic() + 60 * args.minutes
    step, losses, log = 0, [], []
    while step < args.steps and time.monotonic() < deadline:
        lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(1.0, (time.monotonic() - deadline + 60 * args.minutes)
                                                                   / (60 * args.minutes)))))
        for group in optimiser.param_groups:
            group["lr"] = lr
        x, y = sampler.batch(args.batch)
        output = generator(x)
        loss = F.l1_loss(output, y)
        total = loss
        if discriminator is not None:
            fake_logits = discriminator(torch.cat([x, output], 1))
            total = loss + args.adversarial * ((fake_logits - 1) ** 2).mean()
        optimiser.zero_grad(set_to_none=True)
        total.backward()
        optimiser.step()
        if discriminator is not None:
            real = discriminator(torch.cat([x, y], 1))
            fake = discriminator(torch.cat([x, output.detach()], 1))
            d_loss = 0.5 * (((real - 1) ** 2).mean() + (fake**2).mean())
            d_optimiser.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimiser.step()
        with torch.no_grad():
            decay = min(args.ema, (1 + step) / (10 + step))
            for e, g in zip(ema.parameters(), generator.parameters()):
                e.lerp_(g, 1 - decay)
        losses.append(loss.item())
        step += 1
        if step % 100 == 0:
            mean = float(np.mean(losses[-100:]))
            log.append({"step": step, "l1_hu": mean * (WINDOW[1] - WINDOW[0]) / 2, "lr": lr})
            print(f"step {step}: L1 {log[-1]['l1_hu']:.2f} HU, lr {lr:.2e}", flush=True)
    previous = 0
    if args.init and (args.init.parent / "train_log.json").exists():
        previous = json.loads((args.init.parent / "train_log.json").read_text())["steps"]
    (args.run_dir / "train_log.json").write_text(json.dumps({"steps": previous + step, "log": log}, indent=1))
    ema.steps_trained = previous + step
    return ema.eval()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The pairs, run folder, export and the denoiser's training settings."""
    add_data_arguments(parser, ["--pairs"])
    parser.add_argument("--run-dir", type=Path, required=True, help="run folder: training log, generator weights")
    parser.add_argument("--export", type=Path, help="bundle folder to write")
    parser.add_argument("--name", default="lowdose-ct-real", help="model name in the bundle")
    parser.add_argument("--minutes", type=float, default=18.0, help="wall-clock training budget")
    parser.add_argument("--steps", type=int, default=100000, help="training steps at most")
    parser.add_argument("--batch", type=int, default=16, help="crops per step")
    parser.add_argument("--crop", type=int, default=64, help="crop size (pixels)")
    parser.add_argument("--width", type=int, default=32, help="ResNet channels")
    parser.add_argument("--blocks", type=int, default=5, help="ResNet residual blocks")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine decay to a tenth)")
    parser.add_argument("--ema", type=float, default=0.995, help="decay of the exported EMA weights")
    parser.add_argument("--adversarial", type=float, default=0.0, help="LSGAN weight (0: L1 only)")
    parser.add_argument("--init", type=Path, help="start from these generator weights (safetensors), e.g. to go on")
    parser.add_argument("--note", help="a sentence for the card's training summary (e.g. what ran before --init)")
    add_threads_argument(parser, 2)
    parser.add_argument("--seed", type=int, default=0, help="random seed (batches, weights)")
    parser.add_argument("--default", action="store_true", help="mark the bundle as the default translate model")


def run(args: argparse.Namespace) -> int:
    """Train, keep the generator's weights in the run folder, export and evaluate if asked."""
    generator = train(args)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in generator.state_dict().items()}, str(args.run_dir / "generator.safetensors"))
    if args.export:
        from GANSynthesisTraining.bundles.lowdose_bundle import export_real_denoiser

        export_real_denoiser(args, generator)
    return 0


main = command_main("lowdose-real")

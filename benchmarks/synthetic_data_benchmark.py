"""Does synthetic data help segmentation? The same small 2-D U-Net trained three ways — on N real cases, on N real
plus M synthetic, on the M synthetic alone — and scored by Dice per structure on held-out real cases, over seeds.

Phantoms (default): "real" is the phantom CT with its MM-WHS labels (seeds 81000 + i; held out: 82000 + i); the
synthetic cases come from `generate` on the real cases' label maps (varied) with mmwhs-ct, as a user
would make them. --real-ct: the real abdomen CT of ../shared/data with TotalSegmentator's labels (whole-body
classes): trained on its slices 0–17, scored on slices 20–29 (one patient), synthetic cases from its varied class
map with wholebody-ct. Prints one table (mean ± standard deviation over seeds), written as Markdown and JSON.

  python benchmarks/synthetic_data_benchmark.py --real 4 --synthetic 12 --seeds 3 --steps 300 --out out/bench-synth
  python benchmarks/synthetic_data_benchmark.py --real-ct --synthetic 12 --seeds 3 --steps 300 --out out/bench-real
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS  # noqa: E402
from GANSynthesisLib.anatomy.wholebody_classes import CLASS_INDEX, MODEL_VALUE_BASE  # noqa: E402
from GANSynthesisLib.core.volume import Volume  # noqa: E402
from GANSynthesisLib.datasets.generate import GenerationSettings, LabelSource, generate_dataset  # noqa: E402
from GANSynthesisLib.files.image_files import read_volume  # noqa: E402
from GANSynthesisLib.models.networks import UNetGenerator  # noqa: E402
from GANSynthesisLib.models.registry import find_model  # noqa: E402
from GANSynthesisLib.phantoms.thorax import generate_phantom  # noqa: E402

MMWHS_STRUCTURES = list(MMWHS_LABELS)  # channel c + 1 is the c-th structure
REAL_CT_STRUCTURES = ["bone", "spinal canal", "vein", "solid organ", "hollow organ"]  # TotalSegmentator-labelled
REAL_SEED, HELD_OUT_SEED = 81000, 82000
TRAININGS = ("real", "real + synthetic", "synthetic")


def consecutive(labels: np.ndarray) -> np.ndarray:
    """MM-WHS values → 0 … 7."""
    out = np.zeros(labels.shape, np.int64)
    for index, value in enumerate(MMWHS_LABELS.values(), start=1):
        out[labels == value] = index
    return out


def to_input(ct: np.ndarray) -> np.ndarray:
    return (np.clip(ct, -1000, 1000) / 1000.0).astype(np.float32)


def slices_with_labels(ct: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slices that hold a structure, as network input and targets, padded to multiples of 16."""
    keep = labels.reshape(len(labels), -1).any(1)
    return padded(to_input(ct[keep]), -1.0), padded(labels[keep], 0)


def padded(array: np.ndarray, value: float) -> np.ndarray:
    _, h, w = array.shape
    return np.pad(array, ((0, 0), (0, -h % 16), (0, -w % 16)), constant_values=value)


def phantom_data(args: argparse.Namespace) -> tuple[list[str], list, list, list]:
    """Structures, real training cases, synthetic cases, held-out (CT, labels) volumes: MM-WHS phantoms."""
    phantoms = [generate_phantom(REAL_SEED + i) for i in range(args.real)]
    real = [slices_with_labels(p.ct.array, consecutive(p.labels.array)) for p in phantoms]
    held_out = []
    for i in range(args.held_out):
        p = generate_phantom(HELD_OUT_SEED + i)
        held_out.append((p.ct.array, consecutive(p.labels.array)))
    synthetic = synthetic_cases([p.labels for p in phantoms], args.synthetic, args.out / "dataset", "mmwhs-ct",
                                {name: i for i, name in enumerate(MMWHS_STRUCTURES, start=1)})
    return MMWHS_STRUCTURES, real, synthetic, held_out


def real_ct_data(args: argparse.Namespace) -> tuple[list[str], list, list, list]:
    """The same for the real abdomen CT with TotalSegmentator's labels (one patient: train and held-out slabs)."""
    from GANSynthesisTraining.data.wholebody_data import load_real

    case = load_real("abdomen30_ts")
    targets = np.zeros(256, np.int64)
    for index, name in enumerate(REAL_CT_STRUCTURES, start=1):
        targets[CLASS_INDEX[name]] = index
    (a, b), (c, d) = case.train, case.held_out
    real = [slices_with_labels(case.hu[a:b], targets[case.classes[a:b]])]
    held_out = [(case.hu[c:d], targets[case.classes[c:d]])]
    codes = np.where(case.classes[a:b] > 0, case.classes[a:b].astype(np.uint16) + MODEL_VALUE_BASE, 0)
    slab = Volume(codes.astype(np.uint16), case.spacing_kji[::-1])
    synthetic = synthetic_cases([slab], args.synthetic, args.out / "dataset", "wholebody-ct",
                                {name: i for i, name in enumerate(REAL_CT_STRUCTURES, start=1)})
    return REAL_CT_STRUCTURES, real, synthetic, held_out


def synthetic_cases(real_volumes: list, count: int, folder: Path, model: str,
                    targets: dict[str, int]) -> list[tuple]:
    """``count`` generated cases from the real label maps (varied), read back as (CT, target labels 0…K) with
    ``targets`` naming the dataset labels to keep (name → target value)."""
    bundle = find_model(model, "synthesize")
    sources = [LabelSource(f"real{i}", lambda v=v: v) for i, v in enumerate(real_volumes)]
    generate_dataset(sources, folder, bundle, GenerationSettings(count, seed=1))
    names = json.loads((folder / "dataset.json").read_text())["labels"]
    table = np.zeros(max(names.values()) + 1, np.int64)
    for name, target in targets.items():
        if name in names:  # a structure the label maps never show stays background
            table[names[name]] = target
    cases = []
    for index in range(count):
        ct = read_volume(folder / "imagesTr" / f"synthetic_{index:03d}_0000.nii.gz").array
        labels = table[read_volume(folder / "labelsTr" / f"synthetic_{index:03d}.nii.gz").array.astype(np.int64)]
        cases.append(slices_with_labels(ct, labels))
    return cases


def train(cases: list[tuple], classes: int, steps: int, seed: int, batch: int = 16) -> torch.nn.Module:
    """A small U-Net trained with cross-entropy + soft Dice on the cases' slices."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(np.concatenate([c[0] for c in cases]))[:, None]
    labels = torch.from_numpy(np.concatenate([c[1] for c in cases]))
    network = UNetGenerator(1, classes + 1, base_width=16, depth=4, max_width=64, norm="batch", dropout=0.0)
    for block in network.up:  # logits, not the image generator's tanh
        if isinstance(block[-1], torch.nn.Tanh):
            block[-1] = torch.nn.Identity()
    optimiser = torch.optim.Adam(network.parameters(), 2e-3)
    network.train()
    for _ in range(steps):
        index = torch.from_numpy(rng.integers(len(images), size=batch))
        x, y = images[index], labels[index]
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        logits = network(x)
        probabilities = logits.softmax(1)
        one_hot = F.one_hot(y, probabilities.shape[1]).permute(0, 3, 1, 2).float()
        overlap = (probabilities * one_hot).sum((0, 2, 3))
        dice = (2 * overlap + 1) / (probabilities.sum((0, 2, 3)) + one_hot.sum((0, 2, 3)) + 1)
        loss = F.cross_entropy(logits, y) + (1 - dice[1:].mean())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return network.eval()


@torch.no_grad()
def dice_per_structure(network: torch.nn.Module, held_out: list[tuple], classes: int) -> np.ndarray:
    """Dice of each structure over all held-out volumes together."""
    overlap, size = np.zeros(classes), np.zeros(classes)
    for ct, labels in held_out:
        predicted = network(torch.from_numpy(padded(to_input(ct), -1.0))[:, None]).argmax(1).numpy()
        labels = padded(labels, 0)
        for c in range(1, classes + 1):
            overlap[c - 1] += 2 * np.sum((predicted == c) & (labels == c))
            size[c - 1] += np.sum(predicted == c) + np.sum(labels == c)
    return overlap / np.maximum(size, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=int, default=4, help="real (phantom) training cases")
    parser.add_argument("--synthetic", type=int, default=12, help="generated cases")
    parser.add_argument("--held-out", type=int, default=4, help="held-out real cases")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per training set")
    parser.add_argument("--steps", type=int, default=400, help="training steps (batch 16)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--real-ct", action="store_true", help="the real abdomen CT with TotalSegmentator's labels "
                                                                   "and wholebody-ct instead of phantoms")
    parser.add_argument("--out", type=Path, default=Path("out/bench-synthetic-data"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    structures, real, synthetic, held_out = (real_ct_data if args.real_ct else phantom_data)(args)
    print(f"data ready in {time.perf_counter() - started:.0f} s: {sum(len(c[0]) for c in real)} real slices, "
          f"{sum(len(c[0]) for c in synthetic)} synthetic slices", flush=True)
    sets = {"real": real, "real + synthetic": real + synthetic, "synthetic": synthetic}
    scores = {name: [] for name in TRAININGS}
    for name in TRAININGS:
        for seed in range(args.seeds):
            clock = time.perf_counter()
            network = train(sets[name], len(structures), args.steps, seed)
            scores[name].append(dice_per_structure(network, held_out, len(structures)))
            print(f"{name}, seed {seed}: mean Dice {scores[name][-1].mean():.3f} "
                  f"({time.perf_counter() - clock:.0f} s)", flush=True)
    real_cases = "1 CT, 18 slices" if args.real_ct else f"N={args.real}"
    titles = [f"real ({real_cases})", f"real + synthetic ({real_cases}, M={args.synthetic})",
              f"synthetic only (M={args.synthetic})"]
    header = "| structure | " + " | ".join(titles)
    lines = [header + " |", "| --- |" + " --- |" * len(TRAININGS)]
    for index, structure in enumerate([*structures, "mean"]):
        cells = []
        for name in TRAININGS:
            values = np.array(scores[name])
            column = values.mean(1) if structure == "mean" else values[:, index]
            cells.append(f"{column.mean():.3f} ± {column.std():.3f}")
        lines.append(f"| {structure} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    (args.out / "dice.md").write_text(table + "\n")
    record = {name: np.array(v).tolist() for name, v in scores.items()}
    record |= {"structures": structures, "args": vars(args) | {"out": str(args.out)}}
    (args.out / "dice.json").write_text(json.dumps(record, indent=2))
    print(f"total {time.perf_counter() - started:.0f} s; wrote {args.out / 'dice.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Whole-volume synthesis speed: the project's engine vs a per-slice batch-1 fp32 loop (pix2pix test style).

Both run the same bundled generator on the same label map, in one process, on each available device.
Prints seconds, slices/s, the ratio and peak memory. Not a test: numbers to read and report.

    python benchmarks/inference_benchmark.py [--size 512 512 300] [--devices cpu cuda]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from GANSynthesisLib.inference import InferenceOptions, model_grid_size, pad_to_multiple  # noqa: E402
from GANSynthesisLib.phantom import generate_phantom  # noqa: E402
from GANSynthesisLib.registry import find_model  # noqa: E402
from GANSynthesisLib.synthesis import synthesize, translator_for  # noqa: E402
from GANSynthesisLib.volume import Volume  # noqa: E402


def big_label_map(size: tuple[int, int, int], spacing: tuple[float, float, float]) -> Volume:
    """A phantom label map at ``size`` voxels: generated at ¼ resolution, upsampled by nearest neighbour."""
    coarse_size = tuple(max(1, n // 4) for n in size)
    phantom = generate_phantom(2024, coarse_size, tuple(4 * s for s in spacing))
    array = phantom.labels.array.repeat(4, 0).repeat(4, 1).repeat(4, 2)
    array = np.pad(array, [(0, n - a) for n, a in zip(size[::-1], array.shape)])
    return Volume(array, spacing)


def per_slice_loop(bundle, labels: Volume, device: torch.device) -> np.ndarray:
    """One slice at a time, batch 1, fp32, synchronous copies: how pix2pix's test script runs a model."""
    translator = translator_for(bundle)
    network = translator.network.to(device).eval()
    depth, rows, cols = labels.array.shape
    grid = (model_grid_size(rows, labels.spacing[1], translator.in_plane_spacing[0]),
            model_grid_size(cols, labels.spacing[0], translator.in_plane_spacing[1]))
    pad = translator.pad_values().to(device)
    out = np.empty(labels.array.shape, np.float32)
    with torch.no_grad():
        for k in range(depth):
            x = translator.encode(labels.array[k:k + 1], device)
            x = F.interpolate(x, size=grid, mode="bilinear", align_corners=False, antialias=True)
            x, (top, left, h, w) = pad_to_multiple(x, translator.size_multiple, pad)
            y = network(x)[:, :, top:top + h, left:left + w]
            y = F.interpolate(y, size=(rows, cols), mode="bilinear", align_corners=False)
            out[k] = translator.decode(y).cpu().numpy()[0]
    return out


def timed(function, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, nargs=3, default=(512, 512, 300), metavar=("X", "Y", "Z"))
    parser.add_argument("--spacing", type=float, nargs=3, default=(0.7, 0.7, 1.0), metavar=("X", "Y", "Z"))
    parser.add_argument("--devices", nargs="*", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--batch-size", type=int, default=None, help="default: the engine's (8 on CPU, 32 on GPU)")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    bundle = find_model(args.model, "synthesize")
    labels = big_label_map(tuple(args.size), tuple(args.spacing))
    depth = labels.array.shape[0]
    print(f"model {bundle.name}; label map {args.size[0]}×{args.size[1]}×{args.size[2]} at {args.spacing} mm; "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for name in args.devices:
        device = torch.device(name)
        label = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
        options = InferenceOptions(device=name, batch_size=args.batch_size)
        synthesize(big_label_map((64, 64, 8), tuple(args.spacing)), bundle, options=options)  # warm-up
        engine, engine_s = timed(lambda: synthesize(labels, bundle, options=options), device)
        engine_gpu_peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
        loop, loop_s = timed(lambda: per_slice_loop(bundle, labels, device), device)
        difference = float(np.abs(engine.array - loop).max())
        print(f"\n[{label}]")
        batch = args.batch_size or (32 if device.type == "cuda" else 8)
        print(f"  engine (batch {batch}{', bf16, channels_last' if device.type == 'cuda' else ', fp32'}): "
              f"{engine_s:7.2f} s  {depth / engine_s:8.1f} slices/s")
        print(f"  per-slice loop (batch 1, fp32):      {loop_s:7.2f} s  {depth / loop_s:8.1f} slices/s")
        print(f"  speed-up: {loop_s / engine_s:.2f}×   max |engine − loop| = {difference:.1f} HU")
        if device.type == "cuda":
            print(f"  peak GPU memory (engine): {engine_gpu_peak:.2f} GiB")
    print(f"\npeak host memory (process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()

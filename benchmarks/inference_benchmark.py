"""Whole-volume synthesis speed: the project's engine vs a per-slice batch-1 fp32 loop (pix2pix test style).

Both run the same generator on the same label map, in one process, on each available device: the bundled
model (default), or with ``--network unet256`` the issue's reference network, a pix2pix U-Net-256 (depth 8,
widths 64–512, random weights: speed only) working on the label map's own in-plane grid (512² slices).
The engine's time is synthesize's, array in → array out: label checks, slices, network, result array.
Times are medians of ``--repeats`` runs (3) after a first one (whose time the engine line also gives). Prints seconds,
slices/s, the ratio and peak memory. Not a test: numbers to read and report.

    python benchmarks/inference_benchmark.py [--size 512 512 300] [--devices cpu cuda] [--network unet256]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from GANSynthesisLib.core.volume import Volume  # noqa: E402
from GANSynthesisLib.engine.inference import (InferenceOptions, model_grid_size, pad_to_multiple,  # noqa: E402
                                              run_translator)
from GANSynthesisLib.models.networks import UNetGenerator  # noqa: E402
from GANSynthesisLib.models.registry import find_model  # noqa: E402
from GANSynthesisLib.phantoms.thorax import generate_phantom  # noqa: E402
from GANSynthesisLib.tasks.synthesis.labels_to_ct import (LabelToImageTranslator, prepare_labelmap,  # noqa: E402
                                                          translator_for)


def big_label_map(size: tuple[int, int, int], spacing: tuple[float, float, float]) -> Volume:
    """A phantom label map at ``size`` voxels: generated at ¼ resolution, upsampled by nearest neighbour."""
    coarse_size = tuple(max(1, n // 4) for n in size)
    phantom = generate_phantom(2024, coarse_size, tuple(4 * s for s in spacing))
    array = phantom.labels.array.repeat(4, 0).repeat(4, 1).repeat(4, 2)
    array = np.pad(array, [(0, n - a) for n, a in zip(size[::-1], array.shape)])
    return Volume(array, spacing)


def translator_under_test(bundle, network: str, spacing: tuple[float, float, float]) -> LabelToImageTranslator:
    """The bundle's translator, or with ``network`` 'unet256' the same labels and output window through a
    randomly initialised U-Net-256 on the label map's in-plane grid."""
    translator = translator_for(bundle)
    if network == "bundle":
        return translator
    unet = UNetGenerator(len(translator.label_values) + 1).eval()
    return dataclasses.replace(translator, network=unet, in_plane_spacing=(spacing[1], spacing[0]),
                               size_multiple=unet.size_multiple)


def per_slice_loop(translator: LabelToImageTranslator, labels: Volume, device: torch.device) -> np.ndarray:
    """One slice at a time, batch 1, fp32, synchronous copies: how pix2pix's test script runs a model."""
    network = translator.network.to(device, memory_format=torch.contiguous_format).eval()
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


def timed(function, device: torch.device, repeats: int = 3) -> tuple[object, float, float]:
    """``function``'s result, its first (cold) run's seconds and the median seconds of ``repeats`` more runs."""
    seconds = []
    for _ in range(1 + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return result, seconds[0], float(np.median(seconds[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, nargs=3, default=(512, 512, 300), metavar=("X", "Y", "Z"))
    parser.add_argument("--spacing", type=float, nargs=3, default=(0.7, 0.7, 1.0), metavar=("X", "Y", "Z"))
    parser.add_argument("--devices", nargs="*", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--batch-size", type=int, default=None, help="default: the engine's (8 on CPU, 64 on GPU)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the first; medians are reported")
    parser.add_argument("--model", default=None, help="the synthesis bundle (default: the bundled default)")
    parser.add_argument("--network", choices=("bundle", "unet256"), default="bundle",
                        help="the bundle's generator, or a U-Net-256 on the label map's grid (speed only)")
    args = parser.parse_args()

    bundle = find_model(args.model, "synthesize")
    if bundle.manifest.input.label_set and args.network == "bundle":
        # a whole-body (2.5-D) model has its own label path: benchmarks/wholebody_benchmark.py times it end to end
        import subprocess

        script = str(Path(__file__).with_name("wholebody_benchmark.py"))
        for name in args.devices:
            subprocess.run([sys.executable, script, "--model", str(bundle.path), "--device", name, "--size",
                            *map(str, args.size), "--spacing", *map(str, args.spacing)], check=True)
        return
    translator = translator_under_test(bundle, args.network, tuple(args.spacing))
    labels = big_label_map(tuple(args.size), tuple(args.spacing))
    depth = labels.array.shape[0]
    network = bundle.name if args.network == "bundle" else f"U-Net-256 with the labels of {bundle.name}"
    print(f"network {network}; label map {args.size[0]}×{args.size[1]}×{args.size[2]} at {args.spacing} mm; "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for name in args.devices:
        device = torch.device(name)
        label = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
        options = InferenceOptions(device=name, batch_size=args.batch_size)

        def engine_on(label_map: Volume) -> Volume:
            return run_translator(translator, prepare_labelmap(label_map, bundle), options)

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        engine, engine_first_s, engine_s = timed(lambda: engine_on(labels), device, args.repeats)
        engine_gpu_peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
        loop, _, loop_s = timed(lambda: per_slice_loop(translator, labels, device), device, args.repeats)
        difference = float(np.abs(engine.array - loop).max())
        print(f"\n[{label}]")
        batch = args.batch_size or (64 if device.type == "cuda" else 8)
        print(f"  engine (batch {batch}{', bf16, channels_last' if device.type == 'cuda' else ', fp32'}): "
              f"{engine_s:7.2f} s  {depth / engine_s:8.1f} slices/s   (first call {engine_first_s:.2f} s)")
        print(f"  per-slice loop (batch 1, fp32):      {loop_s:7.2f} s  {depth / loop_s:8.1f} slices/s")
        print(f"  speed-up: {loop_s / engine_s:.2f}×   max |engine − loop| = {difference:.1f} HU")
        if device.type == "cuda":
            print(f"  peak GPU memory (engine): {engine_gpu_peak:.2f} GiB")
    print(f"\npeak host memory (process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()

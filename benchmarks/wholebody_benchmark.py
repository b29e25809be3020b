"""Whole-volume speed of the whole-body (2.5-D) synthesis path: label map in TotalSegmentator numbering → CT.

Times the synthesize task end to end (numbering recognised, classes packed with their neighbours, engine, result)
on a 512×512×300 label map at 0.7 × 0.7 × 1 mm (a phantom drawn at ¼ resolution and upsampled). Not a test.

    python benchmarks/wholebody_benchmark.py [--model wholebody-ct | PATH] [--size 512 512 300] [--threads 2]
    python benchmarks/wholebody_benchmark.py --random-unet 24 6 192   # an untrained network of that size
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from GANSynthesisLib.anatomy.wholebody_classes import INPUT_CHANNELS, LABEL_SET, wholebody_labels  # noqa: E402
from GANSynthesisLib.core.volume import Volume  # noqa: E402
from GANSynthesisLib.engine.inference import InferenceOptions  # noqa: E402
from GANSynthesisLib.models.bundle import load_bundle, save_bundle  # noqa: E402
from GANSynthesisLib.models.manifest import Grid, InputSpec, Manifest, Normalisation, OutputSpec  # noqa: E402
from GANSynthesisLib.models.networks import UNetGenerator, network_spec  # noqa: E402
from GANSynthesisLib.models.registry import find_model  # noqa: E402
from GANSynthesisLib.phantoms.wholebody import generate_wholebody_phantom  # noqa: E402
from GANSynthesisLib.tasks.catalogue import get_task  # noqa: E402

# whole-body class → a TotalSegmentator 'total' number with that class (so the map is read as TS numbering)
TS_NUMBER = {1: 0, 2: 0, 3: 86, 4: 10, 5: 16, 6: 32, 7: 79, 8: 51, 9: 51, 10: 51, 11: 52, 12: 62, 13: 5, 14: 18}


def big_label_map(size, spacing) -> Volume:
    coarse = tuple(max(1, n // 4) for n in size)
    p = generate_wholebody_phantom(7, coarse, tuple(4 * s for s in spacing))
    table = np.zeros(256, np.uint8)
    for cls, number in TS_NUMBER.items():
        table[cls] = number
    array = table[p.classes.array].repeat(4, 0).repeat(4, 1).repeat(4, 2)
    return Volume(np.ascontiguousarray(array), spacing=spacing, origin=(0.0, 0.0, 0.0), direction=np.eye(3))


def random_bundle(folder: Path, width: int, depth: int, max_width: int) -> Path:
    net = UNetGenerator(INPUT_CHANNELS, 1, width, depth, max_width, dropout=0.0)
    manifest = Manifest(name="random-wholebody", version="0", task="synthesize", license="none",
                        intended_use="speed only", architecture={"generator": network_spec(net)},
                        input=InputSpec(kind="labelmap", labels=wholebody_labels(), label_set=LABEL_SET),
                        output=OutputSpec(modality="CT", units="HU",
                                          normalisation=Normalisation("window", low=-1024, high=2000)),
                        grid=Grid(in_plane_spacing_mm=(1.5, 1.5), plane="axial", in_plane_size=(256, 256)))
    save_bundle(folder, manifest, {"generator": net.state_dict()})
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="wholebody-ct")
    parser.add_argument("--random-unet", type=int, nargs=3, metavar=("WIDTH", "DEPTH", "MAX_WIDTH"))
    parser.add_argument("--size", type=int, nargs=3, default=(512, 512, 300))
    parser.add_argument("--spacing", type=float, nargs=3, default=(0.7, 0.7, 1.0))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.random_unet:
        bundle = load_bundle(random_bundle(Path(tempfile.mkdtemp()) / "b", *args.random_unet))
    else:
        bundle = find_model(args.model, "synthesize")
    labels = big_label_map(tuple(args.size), tuple(args.spacing))
    options = InferenceOptions(device=args.device, threads=args.threads)
    started = time.perf_counter()
    result = get_task("synthesize").run(labels, bundle, {}, options)
    seconds = time.perf_counter() - started
    print(f"{bundle.name}: {'×'.join(map(str, args.size))} at {args.spacing} mm on {args.device} "
          f"({torch.get_num_threads()} threads): {seconds:.1f} s, {args.size[2] / seconds:.1f} slices/s; "
          f"output {result.volume.array.shape}, warnings: {result.warnings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Slicer module's path against the engine alone, for one large label map on this machine.

- engine: synthesize on the array in this process (label checks, slices, network, result array), as
  ``inference_benchmark.py`` times it;
- module: what a click on Apply costs until the node is in the scene, with the module's own code on the test
  runtime (Slicer 5.10's Python layer over slicer-core, Qt for Python offscreen): read the label-map node, write
  the input, start the child process (Python, torch and the model load there), compute, write and read the
  result, publish the node. The main thread's longest stall (a 20 ms heartbeat) is printed too.

Needs ../shared/slicer-5.10 beside the checkout (as the module tests do). Not a test: numbers to read and report.

    python benchmarks/module_path_benchmark.py [--size 512 512 300] [--spacing 0.75 0.75 1.0] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "Testing"), str(ROOT), str(ROOT / "benchmarks")]

import slicer_runtime  # noqa: E402
from inference_benchmark import big_label_map  # noqa: E402


def engine_seconds(labels, device: str) -> float:
    from GANSynthesisLib.engine.inference import InferenceOptions
    from GANSynthesisLib.models.registry import find_model
    from GANSynthesisLib.tasks.catalogue import get_task

    start = time.perf_counter()
    get_task("synthesize").run(labels, find_model(None, "synthesize"), {}, InferenceOptions(device=device))
    return time.perf_counter() - start


def module_seconds(labels, device: str) -> tuple[float, float]:
    """Seconds from Apply to the published node, and the main thread's longest stall."""
    import qt
    from mrml_scene import add_volume_node

    scene = slicer_runtime.new_scene()
    panel = slicer_runtime.build_panel(slicer_runtime.load_module(), scene)
    panel.ui.inputSegmentationSelector.setCurrentNode(add_volume_node(scene, labels, "labels",
                                                                      "vtkMRMLLabelMapVolumeNode"))
    panel._parameterNode.device = device
    panel._parameterNode.batchSize = 8
    beats = []
    heartbeat = qt.QTimer()
    heartbeat.setInterval(20)
    heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
    heartbeat.start()
    start = time.perf_counter()
    qt.QTimer.singleShot(0, panel.ui.applyButton.click)
    qt.QApplication.processEvents()
    while panel._run is not None:
        qt.QApplication.processEvents()
        time.sleep(0.002)
    seconds = time.perf_counter() - start
    heartbeat.stop()
    if not panel.ui.statusLabel.text.startswith("Done"):
        raise SystemExit(f"error: the run did not finish: {panel.ui.statusLabel.text}")
    panel.cleanup()
    return seconds, float(np.diff([start, *beats]).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, nargs=3, default=[512, 512, 300], help="label map size (i j k)")
    parser.add_argument("--spacing", type=float, nargs=3, default=[0.75, 0.75, 1.0], help="voxel size in mm")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="device of both runs")
    args = parser.parse_args()
    if not slicer_runtime.available():
        raise SystemExit(f"error: {slicer_runtime.UNAVAILABLE_REASON}")
    slicer_runtime.install()
    labels = big_label_map(tuple(args.size), tuple(args.spacing))
    labels = labels.with_array(labels.array.astype(np.uint16))
    engine = engine_seconds(labels, args.device)
    module, stall = module_seconds(labels, args.device)
    print(f"label map {'×'.join(map(str, args.size))}, device {args.device}")
    print(f"engine alone (in process, model loaded): {engine:6.2f} s")
    print(f"module path (Apply → node in the scene):  {module:6.2f} s")
    print(f"overhead: {module - engine:.2f} s = {(module - engine) / engine:.2f}× the compute time (bar: < 2×)")
    print(f"longest main-thread stall during the run: {stall:.3f} s")


if __name__ == "__main__":
    main()

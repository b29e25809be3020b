"""A task run in a child process: ``python -m GANSynthesisLib.slicer.worker RUN_FOLDER``.

The Slicer module runs every model here, so its main thread (which holds the GIL while Qt's event loop runs)
stays free and the GPU memory is returned when the child exits. The run folder is the whole interface:

- the parent writes ``request.json`` (task, model folder, task inputs, device, batch size) and the input volume;
- the child prints one JSON object per line on standard output while it works (``{"progress": 0.4, "message":
  "…"}``), writes the result volumes and ``result.json`` (warnings, per-slice table, summary), and exits 0;
- on a refused input it prints one ``error: …`` line on standard error and exits 2;
- with ``--exit-when-stdin-closes`` it also ends when its standard input closes (the parent died).

Volumes cross as ``<name>.npy`` plus ``<name>.json`` (LPS geometry): no compression and no resampling, so the
exchange costs little next to the model and keeps the grid exactly.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import GANSynthesisError
from ..core.volume import Volume
from ..tasks.spec import TaskResult

REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"
INPUT_VOLUME = "input"
OUTPUT_VOLUME = "output"
SEGMENTATION_VOLUME = "segmentation"
NICENESS = 10  # below the application that started it, so its user interface stays responsive on busy cores


def write_exchange_volume(volume: Volume, folder: Path, name: str) -> None:
    """Store ``volume`` in ``folder`` as ``name.npy`` and its geometry as ``name.json``."""
    np.save(folder / f"{name}.npy", np.ascontiguousarray(volume.array), allow_pickle=False)
    geometry = {"spacing": list(volume.spacing), "origin": list(volume.origin),
                "direction": np.asarray(volume.direction).tolist()}
    (folder / f"{name}.json").write_text(json.dumps(geometry))


def read_exchange_volume(folder: Path, name: str) -> Volume:
    """The volume stored by :func:`write_exchange_volume`."""
    geometry = json.loads((folder / f"{name}.json").read_text())
    array = np.load(folder / f"{name}.npy", allow_pickle=False)
    return Volume(array, tuple(geometry["spacing"]), tuple(geometry["origin"]), np.array(geometry["direction"]))


def write_request(folder: Path, task: str, model_folder: Path, inputs: dict[str, Any], device: str,
                  batch_size: int | None) -> None:
    """The parent's half of the interface: what to run (the input volume is written beside it)."""
    request = {"task": task, "model": str(model_folder), "inputs": inputs, "device": device,
               "batch_size": batch_size}
    (folder / REQUEST_FILE).write_text(json.dumps(request))


def write_result(folder: Path, result: TaskResult) -> None:
    """The child's half: the output volume, the segmentation if any, and the rest as JSON."""
    write_exchange_volume(result.volume, folder, OUTPUT_VOLUME)
    if result.segmentation is not None:
        write_exchange_volume(result.segmentation, folder, SEGMENTATION_VOLUME)
    details = {"warnings": result.warnings, "slice_table": result.slice_table, "summary": result.summary,
               "has_segmentation": result.segmentation is not None}
    (folder / RESULT_FILE).write_text(json.dumps(details))


def read_result(folder: Path) -> TaskResult:
    """The :class:`TaskResult` a finished child left in ``folder``."""
    details = json.loads((folder / RESULT_FILE).read_text())
    segmentation = read_exchange_volume(folder, SEGMENTATION_VOLUME) if details["has_segmentation"] else None
    return TaskResult(read_exchange_volume(folder, OUTPUT_VOLUME), details["warnings"], segmentation,
                      details["slice_table"], details["summary"])


def report_progress(fraction: float, message: str = "", **details: str) -> None:
    """One machine-readable progress line on standard output."""
    print(json.dumps({"progress": round(float(fraction), 4), "message": message, **details}), flush=True)


def run_request(folder: Path) -> None:
    """Run the request in ``folder`` and leave its result there."""
    from ..core.devices import describe_device, resolve_device
    from ..engine.inference import InferenceOptions
    from ..models.registry import find_model
    from ..tasks.catalogue import get_task

    request = json.loads((folder / REQUEST_FILE).read_text())
    task = get_task(request["task"])
    device = resolve_device(request["device"])
    report_progress(0.0, "loading the model", device=describe_device(device))
    bundle = find_model(request["model"], task.name)
    volume = read_exchange_volume(folder, INPUT_VOLUME)
    options = InferenceOptions(device=request["device"], batch_size=request["batch_size"], progress=report_progress)
    write_result(folder, task.run(volume, bundle, request["inputs"], options))
    report_progress(1.0, "done")


def _exit_when_stdin_closes() -> None:
    while os.read(sys.stdin.fileno(), 1 << 16):  # the raw descriptor: a buffered read would block shutdown
        pass
    os._exit(3)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process; returns its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    exit_with_parent = "--exit-when-stdin-closes" in argv
    folders = [a for a in argv if a != "--exit-when-stdin-closes"]
    if len(folders) != 1 or not Path(folders[0], REQUEST_FILE).is_file():
        print(f"error: usage: python -m GANSynthesisLib.slicer.worker RUN_FOLDER [--exit-when-stdin-closes] (a folder "
              f"holding {REQUEST_FILE})", file=sys.stderr)
        return 2
    if exit_with_parent:
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    if hasattr(os, "nice"):
        os.nice(NICENESS)
    try:
        run_request(Path(folders[0]))
    except GANSynthesisError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

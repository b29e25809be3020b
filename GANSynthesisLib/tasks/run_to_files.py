"""One task run from an image file to image files: the input read, the model run, the output written with its
provenance (marked synthetic), plus the task's extra outputs, all of them appearing together or none."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files.image_files import read_volume, write_image_file
from ..files.output_set import OutputSet
from ..models.bundle import ModelBundle
from ..models.provenance import file_description, synthetic_metadata
from .spec import ExtraOutput, TaskResult, TaskSpec


@dataclass
class FilesRun:
    """What a run wrote: the result, its provenance, and a note per extra output."""

    result: TaskResult
    metadata: dict[str, str]
    notes: dict[Path, str]


def run_to_files(task: TaskSpec, bundle: ModelBundle, input_path: str | Path, output: Path, inputs: dict[str, Any],
                 options, extra_outputs: dict[Path, ExtraOutput] | None = None,
                 overwrite: bool = False) -> FilesRun:
    """Run ``task`` on the image file ``input_path`` and write ``output`` and ``extra_outputs``; every output is
    checked and locked before the input is read, and the user's files are left as they were on any failure."""
    extra_outputs = extra_outputs or {}
    with OutputSet([output, *extra_outputs], overwrite, [input_path]) as outputs:
        result = task.run(read_volume(input_path), bundle, inputs, options)
        metadata = synthetic_metadata(bundle, str(input_path), result.warnings, result.summary)
        write_image_file(result.volume, outputs.staged(output), metadata, file_description(metadata))
        notes = {path: extra.write(result, metadata, outputs.staged(path)) for path, extra in extra_outputs.items()}
    return FilesRun(result, metadata, notes)

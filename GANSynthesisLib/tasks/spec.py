"""What a task is: the record every front end (command line, batch, demo, scripting API, Slicer module, model
cards) is built from. A task declares its input, how it runs, its command-line options, its extra output files,
the lines that summarise a result, its model-card lines and the sample input that fits its models.

A task module holds only its :class:`TaskSpec` and imports its computation (and torch) when it runs, so the Slicer
panel can list the tasks before PyTorch is installed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..core.volume import Volume
from ..models.bundle import ModelBundle
from ..models.manifest import Manifest

if TYPE_CHECKING:
    from ..engine.inference import InferenceOptions


@dataclass
class TaskResult:
    """A task's output volume and the warnings the user should see (e.g. input unlike the training data); a task
    may add a label map (``segmentation``), per-slice rows (``slice_table``) and summary numbers."""

    volume: Volume
    warnings: list[str] = field(default_factory=list)
    segmentation: Volume | None = None
    slice_table: list[dict[str, float]] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)


TaskRunner = Callable[[Volume, ModelBundle, dict[str, Any], "InferenceOptions"], TaskResult]


@dataclass(frozen=True)
class ExtraOutput:
    """A further file a run can write beside its output volume, asked for by a command-line option."""

    flag: str  # e.g. '--scores'
    help: str
    suffixes: tuple[str, ...]  # what the file name must end in
    write: Callable[[TaskResult, dict[str, str], Path], str]  # writes the file; returns what it holds, in a few words

    @property
    def dest(self) -> str:
        """The option's attribute name on the parsed arguments."""
        return self.flag.lstrip("-").replace("-", "_")


def _no_options(parser: argparse.ArgumentParser) -> None:
    """A task without options of its own."""


def _no_inputs(args: argparse.Namespace, bundle: ModelBundle) -> dict[str, Any]:
    return {}


def _no_lines(result: TaskResult) -> list[str]:
    return []


def _no_row(result: TaskResult, output: Path) -> dict[str, Any]:
    return {}


def _no_sample(manifest: Manifest) -> tuple[str, str] | None:
    return None


@dataclass(frozen=True)
class TaskSpec:
    """One task. ``input_kind``: 'labelmap' or 'scalar'; ``output_display``: 'ct' (grey CT window) or 'heat'
    (colour overlay). The hooks default to "nothing of its own"."""

    name: str
    title: str
    command_help: str  # one line in ``python -m GANSynthesisLib --help``
    input_kind: str
    output_display: str
    run: TaskRunner
    add_options: Callable[[argparse.ArgumentParser], None] = _no_options
    inputs_from_options: Callable[[argparse.Namespace, ModelBundle], dict[str, Any]] = _no_inputs
    extra_outputs: tuple[ExtraOutput, ...] = ()
    summary_lines: Callable[[TaskResult], list[str]] = _no_lines  # printed after a run and per batch case
    batch_row: Callable[[TaskResult, Path], dict[str, Any]] = _no_row  # batch's summary.csv columns (none: no CSV)
    card_lines: Callable[[Manifest], list[str]] | None = None  # held-out results; None: image metrics
    sample_input: Callable[[Manifest], tuple[str, str] | None] = _no_sample  # (sample name, node role)

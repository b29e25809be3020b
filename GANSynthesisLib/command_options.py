"""Command-line pieces every command shares: argument types, the model options, the chosen model."""

from __future__ import annotations

import argparse
import math

from .core.devices import DEVICE_CHOICES
from .models.bundle import ModelBundle
from .models.registry import find_model
from .tasks.spec import TaskSpec


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", help="model name or bundle folder (default: the task's default model; "
                                              "`models` lists them)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default auto: "
                                                                                   "CUDA, else Apple MPS, else CPU)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="slices per batch (default 8 on CPU, 64 on GPU)")


def chosen_model(args: argparse.Namespace, task: TaskSpec) -> ModelBundle:
    """The model of ``--model``, or the task's default (said so, with how to list the others)."""
    bundle = find_model(args.model, task.name)
    if args.model is None:
        print(f"model: {bundle.name}, the default {task.name} model ({bundle.title}); "
              f"`models --task {task.name}` lists the others", flush=True)
    return bundle

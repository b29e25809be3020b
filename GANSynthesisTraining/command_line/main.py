"""``python -m GANSynthesisTraining <command> [options]``: the command table and the one ``main`` every command
runs through (parse, threads, seed, run folder, then the command's train → evaluate → export)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Callable

from GANSynthesisLib.core.errors import GANSynthesisError

PROG = "python -m GANSynthesisTraining"
DESCRIPTION = ("Train, evaluate and export GANSynthesis models: one command per model and data-preparation step. "
               "Every training command writes its run folder (checkpoints, losses, snapshots, metrics) and, with "
               "--export, a model bundle.")


@dataclass(frozen=True)
class Command:
    """A training command: the module that holds its ``add_arguments(parser)`` and ``run(args) -> int`` (its
    docstring is the command's description) and a one-line summary."""

    module: str
    summary: str

    def load(self) -> ModuleType:
        return import_module(self.module)


COMMANDS: dict[str, Command] = {
    "synthesis": Command("GANSynthesisTraining.families.pix2pix.synthesis",
                         "label map → CT (pix2pix): train, evaluate on held-out cases, export a bundle"),
    "translation": Command("GANSynthesisTraining.families.pix2pix.translation",
                           "paired image → CT (pix2pix): train, evaluate beside plain baselines, export"),
    "cyclegan": Command("GANSynthesisTraining.families.cyclegan.command",
                        "unpaired image → CT (CycleGAN): train, evaluate on paired phantoms, export"),
    "fanogan": Command("GANSynthesisTraining.families.fanogan.command",
                       "anomaly heatmaps (f-AnoGAN) from normal anatomy: train, calibrate, evaluate, export"),
    "inpainting": Command("GANSynthesisTraining.families.inpainting.command",
                          "anomaly heatmaps (inpainting GAN) from normal anatomy: train, calibrate, evaluate, export"),
    "portable-scans": Command("GANSynthesisTraining.data.real_scans",
                              "copy the real scans to .npz files a machine without SimpleITK can read"),
    "anomaly-real-ct": Command("GANSynthesisTraining.families.inpainting.real_ct",
                               "calibrate an inpainting anomaly bundle per tissue kind on real CT, evaluate, export"),
    "lowdose-pairs": Command("GANSynthesisTraining.data.lowdose_pairs",
                             "make the real-CT low-dose pairs (training and held-out) by noise insertion"),
    "lowdose-real": Command("GANSynthesisTraining.families.lowdose_denoiser.command",
                            "train the real-CT low-dose denoiser on those pairs, evaluate and export it"),
    "wholebody": Command("GANSynthesisTraining.families.pix2pix.wholebody",
                         "whole-body 2.5-D label map → CT (pix2pix): train and export"),
    "evaluate-wholebody": Command("GANSynthesisTraining.evaluation.wholebody_evaluation",
                                  "evaluate a whole-body bundle on held-out real CT and phantoms, write its card"),
}


def build_parser(commands: list[str] | None = None) -> tuple[argparse.ArgumentParser,
                                                               dict[str, argparse.ArgumentParser]]:
    """The parser and one sub-parser per command; only the ``commands`` named (default: all) get their options,
    so a run imports its own command's module alone."""
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                       title="commands (each with --help)")
    built = {}
    for name, command in COMMANDS.items():
        module = command.load() if commands is None or name in commands else None
        sub = subparsers.add_parser(name, help=command.summary, description=module.__doc__ if module else None,
                                    formatter_class=argparse.RawDescriptionHelpFormatter, prog=f"{PROG} {name}")
        if module is not None:
            module.add_arguments(sub)
        built[name] = sub
    return parser, built


def main(argv: list[str] | None = None) -> int:
    """Run one command: ``argv`` is the command's name and its options (default: the process's arguments)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    chosen = [a for a in argv[:1] if a in COMMANDS]
    parser, subparsers = build_parser(chosen)
    args = parser.parse_args(argv)
    module = COMMANDS[args.command].load()
    check = getattr(module, "check_arguments", None)
    if check is not None:
        check(subparsers[args.command], args)
    import torch

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    if getattr(args, "seed", None) is not None:
        torch.manual_seed(args.seed)
    if getattr(args, "run_dir", None) is not None:
        args.run_dir.mkdir(parents=True, exist_ok=True)
    return module.run(args)


def command_line(argv: list[str] | None = None) -> int:
    """:func:`main` for the shell: bad data (missing, unreadable, too few cases) ends in one ``error:`` line and
    status 2."""
    try:
        return main(argv)
    except GANSynthesisError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def command_main(name: str) -> Callable[[list[str] | None], int]:
    """:func:`main` bound to one command: ``command_main("synthesis")(["--phantoms", "4", …])``."""

    def run(argv: list[str] | None = None) -> int:
        return main([name, *(sys.argv[1:] if argv is None else argv)])

    run.__doc__ = f"``{PROG} {name}`` with these options."
    return run

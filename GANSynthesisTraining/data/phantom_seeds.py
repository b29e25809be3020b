"""Which generated phantoms train, validate and test, and how model cards name them."""

from __future__ import annotations

import argparse

from GANSynthesisTraining.data.paired_cases import PairedCase, phantom_cases

HELD_OUT_SEED_BASE = 90_000  # phantom seeds at or above this are never used for training
VALIDATION_SEED_BASE = 70_000  # phantoms that validate during training (never trained on or tested)


def held_out_seeds(count: int) -> list[int]:
    """The seeds of ``count`` held-out phantoms."""
    return list(range(HELD_OUT_SEED_BASE, HELD_OUT_SEED_BASE + count))


def validation_phantoms(count: int, args: argparse.Namespace, source: str = "labels") -> list:
    """``count`` phantoms from the validation seeds, drawn as ``args`` asks (``phantom_cases``)."""
    return phantom_cases(list(range(VALIDATION_SEED_BASE, VALIDATION_SEED_BASE + count)), tuple(args.phantom_size),
                         source=source, supersample=args.phantom_supersample)


def phantom_grid_text(args: argparse.Namespace) -> str:
    """How the phantoms were drawn, as model cards say it: '128×128×48 voxels at 3 mm'."""
    size = args.phantom_size
    return f"{size[0]}×{size[1]}×{size[2]} voxels at 3 mm" + partial_volume_text(args.phantom_supersample)


def partial_volume_text(supersample: int) -> str:
    """', partial volume from 3³ samples per voxel' for phantoms drawn with ``supersample`` > 1, else nothing."""
    return f", partial volume from {supersample}³ samples per voxel" if supersample > 1 else ""


def drawn_seeds_text(seeds: list[int], supersample: int) -> str:
    """Consecutive phantom seeds and how they were drawn, as model cards name them: 'seeds 90000–90005' (one:
    'seed 90000'), then :func:`partial_volume_text`."""
    named = f"seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return named + partial_volume_text(supersample)


def held_out_phantoms_text(args: argparse.Namespace) -> str:
    """The held-out phantoms as model cards name them: 'seeds 90000–90005[, partial volume …]'."""
    return drawn_seeds_text(held_out_seeds(args.held_out), args.phantom_supersample)


def phantom_splits(args: argparse.Namespace, source: str = "labels") -> tuple[list[PairedCase], list[PairedCase],
                                                                            list[PairedCase]]:
    """(train, validation, test) phantoms as ``args`` asks: ``--phantoms`` training seeds from 0, ``--validation``
    and ``--held-out`` phantoms from their own seeds; ``source``: labels, mr or low-dose-ct."""
    drawn = dict(size=tuple(args.phantom_size), source=source, supersample=args.phantom_supersample)
    return (phantom_cases(list(range(args.phantoms)), **drawn), validation_phantoms(args.validation, args, source),
            phantom_cases(held_out_seeds(args.held_out), **drawn))

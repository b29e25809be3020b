"""Normal anatomy for the anomaly models: the training volumes (phantoms or scans) and their bank of tiles."""

from __future__ import annotations

import argparse

import torch

from GANSynthesisLib.models.manifest import Normalisation
from GANSynthesisLib.phantoms.lesions import normal_image
from GANSynthesisLib.phantoms.thorax import generate_phantom
from GANSynthesisTraining.data.phantom_seeds import phantom_grid_text
from GANSynthesisTraining.data.real_normal_ct import (DATA_SENTENCE, TRAINING_SLAB_COUNT,
                                                        real_normal_training_volumes)
from GANSynthesisTraining.data.slice_banks import NormalisedImage, axial_slices
from GANSynthesisTraining.data.tile_banks import TileBank
from GANSynthesisTraining.loop import distributed


def normal_volumes(args: argparse.Namespace) -> list:
    """The normal training volumes: generated phantoms or the scans of --normal-folder, then with --real-ct the
    lesion-free slabs of the real CTs."""
    print("reading normal training volumes …", flush=True)
    if args.phantoms:
        volumes = [normal_image(generate_phantom(seed, tuple(args.phantom_size), supersample=args.phantom_supersample),
                                args.modality) for seed in range(args.phantoms)]
    else:
        from GANSynthesisTraining.data.volume_files import folder_volumes  # reads files (SimpleITK)

        volumes = folder_volumes(args.normal_folder)
    return volumes + (real_normal_training_volumes() if args.real_ct else [])


def normal_tile_bank(args: argparse.Namespace, normalisation: Normalisation, tile: int, device: str) -> tuple[list, TileBank]:
    """The normal training volumes and a bank of their axial slices (normalised, on the model grid); with
    --real-ct the real slices are repeated until they are about half of the bank."""
    volumes = normal_volumes(args)
    encoder = NormalisedImage(normalisation)
    parts = [axial_slices(v, encoder, args.spacing, args.canvas) for v in volumes]
    if args.real_ct:
        real = torch.cat(parts[-TRAINING_SLAB_COUNT:])
        others = sum(part.shape[0] for part in parts[:-TRAINING_SLAB_COUNT])
        parts = parts[:-TRAINING_SLAB_COUNT] + [real] * max(1, round(others / real.shape[0]))
    slices = torch.cat(parts)
    print(f"{slices.shape[0]} normal slices of {args.canvas}×{args.canvas}; tiles of {tile}×{tile}", flush=True)
    return volumes, TileBank(slices, tile, distributed.setup(device))


def normal_training_data(args: argparse.Namespace, modality: str, volumes: list) -> str:
    """One sentence: what the model was trained on."""
    real = f"; and {DATA_SENTENCE}" if args.real_ct else ""
    if args.phantoms:
        return (f"{args.phantoms} normal procedural thorax phantoms as {modality} (seeds 0–{args.phantoms - 1}, "
                f"{phantom_grid_text(args)})" + (real or "; no patient data"))
    scans = len(volumes) - (TRAINING_SLAB_COUNT if args.real_ct else 0)
    return f"{scans} normal scans from {args.normal_folder}{real}"

"""Normal anatomy for the anomaly models: the training volumes (phantoms or scans) and their bank of tiles."""

from __future__ import annotations

import argparse

import torch

from GANSynthesisLib.models.manifest import Normalisation
from GANSynthesisLib.phantoms.lesions import normal_image
from GANSynthesisLib.phantoms.thorax import generate_phantom
from GANSynthesisTraining.data.phantom_seeds import phantom_grid_text
from GANSynthesisTraining.data.slice_banks import NormalisedImage, axial_slices
from GANSynthesisTraining.data.tile_banks import TileBank
from GANSynthesisTraining.loop import distributed


def normal_volumes(args: argparse.Namespace) -> list:
    """The normal training volumes: generated phantoms or the scans of --normal-folder."""
    print("reading normal training volumes …", flush=True)
    if args.phantoms:
        return [normal_image(generate_phantom(seed, tuple(args.phantom_size), supersample=args.phantom_supersample),
                             args.modality) for seed in range(args.phantoms)]
    from GANSynthesisTraining.data.volume_files import folder_volumes  # reads files (SimpleITK)

    return folder_volumes(args.normal_folder)


def normal_tile_bank(args: argparse.Namespace, normalisation: Normalisation, tile: int, device: str) -> tuple[list, TileBank]:
    """The normal training volumes and a bank of their axial slices (normalised, on the model grid)."""
    volumes = normal_volumes(args)
    encoder = NormalisedImage(normalisation)
    slices = torch.cat([axial_slices(v, encoder, args.spacing, args.canvas) for v in volumes])
    print(f"{slices.shape[0]} normal slices of {args.canvas}×{args.canvas}; tiles of {tile}×{tile}", flush=True)
    return volumes, TileBank(slices, tile, distributed.setup(device))


def normal_training_data(args: argparse.Namespace, modality: str, volumes: list) -> str:
    """One sentence: what the model was trained on."""
    if args.phantoms:
        return (f"{args.phantoms} normal procedural thorax phantoms as {modality} (seeds 0–{args.phantoms - 1}, "
                f"{phantom_grid_text(args)}); no patient data")
    return f"{len(volumes)} normal scans from {args.normal_folder}"

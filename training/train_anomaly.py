"""Train an f-AnoGAN anomaly model on normal anatomy, evaluate it on held-out lesion phantoms beside the
intensity-threshold baseline, and export a bundle (generator, encoder, critic).

Phase 1 (``runs/…/wgan``): WGAN-GP on random tiles of normal axial slices. Phase 2 (``runs/…/encoder``):
the izi_f encoder with G and the critic frozen. Both resume from their checkpoints.

Examples:
  python -m training.train_anomaly --phantoms 40 --modality ct --run-dir runs/fanogan-ct --export Resources/Models/fanogan-ct-phantom
  python -m training.train_anomaly --phantoms 40 --modality mr --run-dir runs/fanogan-mr --export Resources/Models/fanogan-mr-phantom
  python -m training.train_anomaly --normal-folder /data/normal_ct --lesion-csv lesions.csv --modality ct --device cuda ...
      (lesions.csv columns: image,mask[,id]: held-out scans with lesion masks)
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.models.bundled_networks import load_network
from GANSynthesisLib.phantoms.lesions import normal_image
from GANSynthesisLib.phantoms.thorax import SUPERSAMPLE_CHOICES, generate_phantom

from . import distributed
from .anomaly import AnomalyConfig, EncoderTrainer, TileBank, WganTrainer, latent_sample, reconstruct
from .anomaly_evaluation import evaluate_and_export_anomaly
from .plots import save_image_grid
from .slices import NormalisedImage, axial_slices
from .trainer import GanTrainer, add_config_arguments, config_from_arguments, evaluating
from .workflow import add_phantom_arguments, phantom_grid_text, resume_and_train, run_command

MODALITIES = {  # --modality → (manifest modality, input normalisation)
    "ct": ("CT", {"type": "window", "low": -1000.0, "high": 1000.0}),
    "mr": ("MR (T1-weighted)", {"type": "percentile", "low_percentile": 0.5, "high_percentile": 99.5}),
}


def add_anomaly_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Data, evaluation and run-folder options shared by the anomaly training commands."""
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--phantoms", type=int, metavar="N", help="N normal phantoms (seeds 0..N-1)")
    data.add_argument("--normal-folder", type=Path, metavar="DIR", help="folder of scans without anomalies")
    parser.add_argument("--lesion-csv", type=Path, help="held-out scans with lesion masks (columns image,mask[,id]); "
                        "phantoms: generated lesion phantoms")
    parser.add_argument("--modality", choices=MODALITIES, required=True)
    parser.add_argument("--held-out", type=int, default=6, help="held-out lesion phantoms")
    parser.add_argument("--calibration", type=int, default=4, help="lesion phantoms that set the default threshold")
    parser.add_argument("--lesion-supersample", type=int, choices=SUPERSAMPLE_CHOICES, metavar="N",
                        help="calibration and held-out lesion phantoms average N³ samples per voxel (default: "
                             "--phantom-supersample); e.g. 3 calibrates a model trained on sharp phantoms, whose "
                             "intensity table then holds pure tissue, for the partial volume of real scans; the normal "
                             "anatomy of the calibration phantoms then joins the input statistics behind the warnings")
    parser.add_argument("--intensity-evidence", action="store_true",
                        help="the heat adds how rare each voxel's intensity is in normal anatomy to how unusual it is "
                             "in context, each judged against the calibration phantoms' normal voxels")
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--networks-from", type=Path, metavar="BUNDLE",
                        help="skip training: calibrate, evaluate and export the networks of this bundle (e.g. after "
                             "a change to calibration); pass the options it was trained with")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--export", type=Path, metavar="DIR")
    parser.add_argument("--name", default="")
    parser.add_argument("--spacing", type=float, default=3.0, help="in-plane model spacing (mm)")
    parser.add_argument("--canvas", type=int, default=128, help="slice canvas the tiles are cut from (pixels)")
    add_phantom_arguments(parser)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--training-note", default="")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train_anomaly", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_anomaly_run_arguments(parser)
    add_config_arguments(parser, AnomalyConfig)
    return parser.parse_args(argv)


UNRECORDED_SETTINGS = {"scale_steps": 0, "grid_shifts": 1}  # what bundles made before these were recorded used


def bundled_networks(path: Path, settings: dict) -> dict[str, torch.nn.Module]:
    """The networks of an anomaly bundle made with the anomaly ``settings`` of this run."""
    bundle = load_bundle(path)
    made_with = UNRECORDED_SETTINGS | (bundle.manifest.anomaly.to_dict() if bundle.manifest.anomaly else {})
    differing = [f"{key} {made_with.get(key)!r} (this run: {value!r})" for key, value in settings.items()
                 if made_with.get(key) != value]
    if differing:
        raise GANSynthesisError(f"{bundle.name} was made with other settings: {', '.join(differing)}; pass the "
                                "options it was trained with.")
    return {part: load_network(bundle, part) for part in bundle.manifest.architecture}


def normal_volumes(args: argparse.Namespace) -> list:
    """The normal training volumes: generated phantoms or the scans of --normal-folder."""
    print("reading normal training volumes …", flush=True)
    if args.phantoms:
        return [normal_image(generate_phantom(seed, tuple(args.phantom_size), supersample=args.phantom_supersample),
                             args.modality) for seed in range(args.phantoms)]
    from .volume_files import folder_volumes  # reads files (SimpleITK); phantom runs need neither

    return folder_volumes(args.normal_folder)


def normal_tile_bank(args: argparse.Namespace, normalisation: dict, tile: int, device: str) -> tuple[list, TileBank]:
    """The normal training volumes and a bank of their axial slices (normalised, on the model grid)."""
    volumes = normal_volumes(args)
    encoder = NormalisedImage(normalisation)
    slices = torch.cat([axial_slices(v, encoder, args.spacing, args.canvas) for v in volumes])
    print(f"{slices.shape[0]} normal slices of {args.canvas}×{args.canvas}; tiles of {tile}×{tile}", flush=True)
    return volumes, TileBank(slices, tile, distributed.setup(device))


def training_data(args: argparse.Namespace, modality: str, volumes: list) -> str:
    """One sentence: what the model was trained on."""
    if args.phantoms:
        return (f"{args.phantoms} normal procedural thorax phantoms as {modality} (seeds 0–{args.phantoms - 1}, "
                f"{phantom_grid_text(args)}); no patient data")
    return f"{len(volumes)} normal scans from {args.normal_folder}"


def tile_snapshot(bank: TileBank, run_dir: Path) -> callable:
    """Snapshots: phase 1 shows generated tiles from fixed latents; phase 2 shows tiles | G(E(x)) | residual."""
    fixed = bank.sample(8, torch.Generator().manual_seed(12345)).cpu()
    latents = latent_sample(8, 1, torch.device("cpu"))  # replaced per trainer below
    (run_dir / "snapshots").mkdir(parents=True, exist_ok=True)

    def snapshot(trainer: GanTrainer, step: int) -> None:
        nonlocal latents
        window = {"real": (-1, 1, "gray"), "generated": (-1, 1, "gray"), "reconstruction": (-1, 1, "gray"),
                  "|residual|": (0, 1, "magma")}
        if isinstance(trainer, WganTrainer):
            if latents.shape[1] != trainer.config.latent_dim:
                latents = latent_sample(8, trainer.config.latent_dim, torch.device("cpu"))
            with evaluating(trainer.export_generator) as generator:
                generated = generator(latents.to(trainer.device)).float().cpu()
            columns = {"real": list(fixed[:4, 0].numpy()), "generated": list(generated[:4, 0].numpy())}
        else:
            with evaluating(trainer.encoder) as encoder:
                rebuilt = reconstruct(encoder, trainer.frozen_generator, fixed.to(trainer.device)).float().cpu()
            columns = {"real": list(fixed[:4, 0].numpy()), "reconstruction": list(rebuilt[:4, 0].numpy()),
                       "|residual|": list((fixed - rebuilt)[:4, 0].abs().numpy())}
        phase = "wgan" if isinstance(trainer, WganTrainer) else "encoder"
        save_image_grid(columns, run_dir / "snapshots" / f"{phase}_{step:06d}.png", window, title=f"{phase} step {step}")

    return snapshot


def train_networks(args: argparse.Namespace, config: AnomalyConfig, normalisation: dict) -> tuple[list, dict] | None:
    """The normal training volumes and the trained generator, encoder and critic; None on ranks other than 0."""
    volumes, bank = normal_tile_bank(args, normalisation, config.tile, config.device)
    snapshot = tile_snapshot(bank, args.run_dir)
    wgan = WganTrainer(config, bank, args.run_dir / "wgan", snapshot)
    resume_and_train(wgan, args.resume)
    encoder_config = replace(config, steps=config.encoder_steps, snapshot_steps=[0, config.encoder_steps])
    generator = copy.deepcopy(wgan.export_generator).eval()
    phase_two = EncoderTrainer(encoder_config, bank, generator, copy.deepcopy(wgan.critic).eval(),
                               args.run_dir / "encoder", snapshot)
    resume_and_train(phase_two, args.resume)
    distributed.cleanup()  # evaluation and export happen on rank 0 alone
    if not phase_two.is_main:
        return None
    return volumes, {"generator": generator, "encoder": phase_two.encoder, "critic": wgan.critic}


def train_or_take_networks_then_export(args: argparse.Namespace, config, method: dict,
                                       train: Callable[[], tuple[list, dict] | None]) -> int:
    """What both anomaly training commands do: ``train()`` the networks (or take those of --networks-from), then
    calibrate, evaluate and export them (:func:`.anomaly_evaluation.evaluate_and_export_anomaly`); ``method``
    holds the title, description and anomaly settings."""
    modality, normalisation = MODALITIES[args.modality]
    if args.networks_from:
        networks = bundled_networks(args.networks_from, method["settings"])
        volumes = normal_volumes(args)
    else:
        trained = train()
        if trained is None:  # ranks other than 0
            return 0
        volumes, networks = trained
    evaluate_and_export_anomaly(args, config, volumes, networks,
                                dict(modality=modality, normalisation=normalisation) | method,
                                training_data(args, modality, volumes))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    modality, normalisation = MODALITIES[args.modality]
    args.name = args.name or f"fanogan-{args.modality}-phantom"
    config = config_from_arguments(AnomalyConfig, args)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    method = {"title": f"{modality} anomaly heatmap, f-AnoGAN (phantom-trained demo)",
              "description": f"f-AnoGAN (WGAN-GP generator, izi_f encoder, critic features) trained on normal "
                             f"{modality} only: each tile is encoded and regenerated as the closest normal image "
                             "the generator can make.",
              "settings": {"method": "f-anogan", "kappa": config.kappa, "tile": config.tile, "stride_fraction": 0.5,
                           "critic_steps": config.critic_steps, "encoder_steps": config.encoder_steps}}
    return train_or_take_networks_then_export(args, config, method,
                                              lambda: train_networks(args, config, normalisation))


if __name__ == "__main__":
    sys.exit(run_command(main))

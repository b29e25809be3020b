"""Train an f-AnoGAN anomaly model on normal anatomy, evaluate it on held-out lesion phantoms beside the
intensity-threshold baseline, and export a bundle (generator, encoder, critic).

Phase 1 (``runs/…/wgan``): WGAN-GP on random tiles of normal axial slices. Phase 2 (``runs/…/encoder``):
the izi_f encoder with G and the critic frozen. Both resume from their checkpoints.

Examples:
  python -m GANSynthesisTraining fanogan --phantoms 40 --modality ct --run-dir runs/fanogan-ct --export Resources/Models/fanogan-ct-phantom
  python -m GANSynthesisTraining fanogan --phantoms 40 --modality mr --run-dir runs/fanogan-mr --export out/models/fanogan-mr-phantom
  python -m GANSynthesisTraining fanogan --normal-folder /data/normal_ct --lesion-csv lesions.csv --modality ct --device cuda ...
      (lesions.csv columns: image,mask[,id]: held-out scans with lesion masks)
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from GANSynthesisLib.models.manifest import Normalisation
from GANSynthesisTraining.command_line.anomaly_run import train_or_take_networks_then_export
from GANSynthesisTraining.command_line.arguments import (add_anomaly_arguments, add_config_arguments,
                                                         config_from_arguments)
from GANSynthesisTraining.command_line.main import command_main
from GANSynthesisTraining.data.modalities import ANOMALY_MODALITIES
from GANSynthesisTraining.data.normal_anatomy import normal_tile_bank
from GANSynthesisTraining.data.tile_banks import TileBank
from GANSynthesisTraining.evaluation.plots import save_image_grid
from GANSynthesisTraining.families.fanogan.model import (AnomalyConfig, EncoderTrainer, WganTrainer, latent_sample,
                                                         reconstruct)
from GANSynthesisTraining.loop import distributed
from GANSynthesisTraining.loop.trainer import GanTrainer, evaluating, resume_and_train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Anomaly data, evaluation and run options, then f-AnoGAN settings."""
    add_anomaly_arguments(parser)
    add_config_arguments(parser, AnomalyConfig)


def tile_snapshot(bank: TileBank, run_dir: Path) -> Callable[[GanTrainer, int], None]:
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


def train_networks(args: argparse.Namespace, config: AnomalyConfig, normalisation: Normalisation) -> tuple[list, dict] | None:
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


def run(args: argparse.Namespace) -> int:
    """Train (or take --networks-from), calibrate, evaluate beside the intensity baseline, export if asked."""
    modality, normalisation = ANOMALY_MODALITIES[args.modality]
    args.name = args.name or f"fanogan-{args.modality}-phantom"
    config = config_from_arguments(AnomalyConfig, args)
    method = {"title": f"{modality} anomaly heatmap, f-AnoGAN (phantom-trained demo)",
              "description": f"f-AnoGAN (WGAN-GP generator, izi_f encoder, critic features) trained on normal "
                             f"{modality} only: each tile is encoded and regenerated as the closest normal image "
                             "the generator can make.",
              "settings": {"method": "f-anogan", "kappa": config.kappa, "tile": config.tile, "stride_fraction": 0.5,
                           "critic_steps": config.critic_steps, "encoder_steps": config.encoder_steps}}
    return train_or_take_networks_then_export(args, config, method,
                                              lambda: train_networks(args, config, normalisation))


main = command_main("fanogan")

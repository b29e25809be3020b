"""What both anomaly commands do after their options are read: train the networks (or take those of a bundle),
then calibrate, evaluate and export them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import torch

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.models.bundled_networks import load_network

from GANSynthesisTraining.data.modalities import ANOMALY_MODALITIES
from GANSynthesisTraining.data.normal_anatomy import normal_training_data, normal_volumes
from GANSynthesisTraining.evaluation.anomaly_evaluation import evaluate_and_export_anomaly
from GANSynthesisTraining.loop.trainer import TrainingConfig

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


def train_or_take_networks_then_export(args: argparse.Namespace, config: TrainingConfig, method: dict,
                                       train: Callable[[], tuple[list, dict] | None]) -> int:
    """What both anomaly training commands do: ``train()`` the networks (or take those of --networks-from), then
    calibrate, evaluate and export them (:func:`.anomaly_evaluation.evaluate_and_export_anomaly`); ``method``
    holds the title, description and anomaly settings."""
    modality, normalisation = ANOMALY_MODALITIES[args.modality]
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
                                normal_training_data(args, modality, volumes))
    return 0

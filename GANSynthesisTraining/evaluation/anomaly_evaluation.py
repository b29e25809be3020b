"""Anomaly models judged on lesion cases beside the intensity-threshold baseline: pixel AUROC, AUPRC and
Dice per case and pooled, for all lesions and for in-range lesions alone; threshold calibration; export."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.models.manifest import AnomalySettings, Grid, InputSpec, Manifest, OutputSpec
from GANSynthesisLib.models.networks import count_parameters
from GANSynthesisLib.phantoms.lesions import LesionCase, LesionKind, lesion_case, lesions_in, normal_image
from GANSynthesisLib.phantoms.thorax import generate_phantom
from GANSynthesisLib.tasks.anomaly.detection import context_evidence, heat_units
from GANSynthesisLib.tasks.anomaly.surprise import combined_heat, joint_surprise, tail_table
from GANSynthesisTraining.bundles.generator_bundle import CONTEXT_ALONE, detection_table, model_card
from GANSynthesisTraining.bundles.training_section import training_summary
from GANSynthesisTraining.bundles.writer import write_bundle
from GANSynthesisTraining.data.input_statistics import input_statistics
from GANSynthesisTraining.data.phantom_seeds import drawn_seeds_text, held_out_seeds
from GANSynthesisTraining.evaluation.baselines import IntensityRarity
from GANSynthesisTraining.evaluation.detection_metrics import at_threshold, detection_metrics
from GANSynthesisTraining.evaluation.plots import save_image_grid

Scorer = Callable[[LesionCase], np.ndarray]
BODY_LEVELS = {"window": -0.5, "percentile": -0.8}  # normalised intensity above which a voxel may be body
SMOOTHING_MM = 3.0
CALIBRATION_SEED_BASE = 80_000  # lesion phantoms that set the default threshold (never trained on or tested)
INTENSITY_EVIDENCE_NOTE = (", adding how rare each voxel's intensity is in normal anatomy: both kinds of evidence "
                           "are read as surprise, −log10 of the share of normal voxels (calibration phantoms) at "
                           "least as unusual, and summed, the intensity's only where it exceeds a floor chosen on the "
                           "calibration phantoms.")
INTENSITY_FLOORS = np.arange(13) / 2  # candidate floors of the intensity surprise, 0…6 in half decades
SUBSETS = {"all lesions": (LesionKind.IN_RANGE, LesionKind.OUT_OF_RANGE), "in-range lesions": (LesionKind.IN_RANGE,)}


def judged_voxels(case: LesionCase, kinds: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Which voxels count (the body, minus lesions of other kinds) and which of them are lesions of ``kinds``."""
    mask = case.mask.array
    body = case.body.array > 0 if case.body is not None else np.ones(mask.shape, bool)
    lesion = np.isin(mask, kinds)
    return (body | lesion) & ((mask == 0) | lesion), lesion


def threshold_metrics(scores: np.ndarray, truth: np.ndarray, threshold: float) -> dict[str, float]:
    """Dice, share of lesion voxels found and share of normal voxels marked at ``threshold``, keyed as stored."""
    return {f"{key}_at_threshold": value for key, value in at_threshold(scores, truth, threshold).items()}


def score_cases(cases: list[LesionCase], scorers: dict[str, Scorer], thresholds: dict[str, float]) -> dict:
    """Per case and pooled metrics of every scorer, for each lesion subset, also at the given thresholds."""
    results: dict = {name: {subset: {"per_case": []} for subset in SUBSETS} for name in scorers}
    pooled: dict = {name: {subset: ([], []) for subset in SUBSETS} for name in scorers}
    for case in cases:
        for name, scorer in scorers.items():
            heat = scorer(case)
            for subset, kinds in SUBSETS.items():
                judged, lesion = judged_voxels(case, kinds)
                scores, truth = heat[judged], lesion[judged]
                pooled[name][subset][0].append(scores)
                pooled[name][subset][1].append(truth)
                if truth.any():
                    metrics = detection_metrics(scores, truth) | threshold_metrics(scores, truth, thresholds[name])
                    results[name][subset]["per_case"].append({"case": case.seed} | metrics)
    for name in scorers:
        for subset in SUBSETS:
            scores, truth = (np.concatenate(part) for part in pooled[name][subset])
            entry = results[name][subset]
            entry["pooled"] = detection_metrics(scores, truth) | threshold_metrics(scores, truth, thresholds[name])
            for key in ("auroc", "auprc", "best_dice"):
                values = [row[key] for row in entry["per_case"]]
                entry[f"mean_{key}"] = float(np.mean(values)) if values else float("nan")
            entry["cases"] = len(entry["per_case"])
    return results


def calibration_scores(cases: list[LesionCase], scorers: dict[str, Scorer]) -> tuple[dict[str, np.ndarray],
                                                                                    np.ndarray]:
    """Each scorer's heat at the judged voxels (all lesions) of the cases, pooled, and which of them are lesion."""
    scores: dict[str, list[np.ndarray]] = {name: [] for name in scorers}
    truth = []
    for case in cases:
        judged, lesion = judged_voxels(case, tuple(SUBSETS["all lesions"]))
        truth.append(lesion[judged])
        for name, scorer in scorers.items():
            scores[name].append(scorer(case)[judged])
    return {name: np.concatenate(parts) for name, parts in scores.items()}, np.concatenate(truth)


def best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The threshold with the best pooled Dice (all lesions) on calibration cases."""
    return max(1e-3, detection_metrics(scores, truth)["best_threshold"])


def best_intensity_floor(context: np.ndarray, intensity: np.ndarray, truth: np.ndarray, tables: dict) -> float:
    """Of :data:`INTENSITY_FLOORS`, the floor of the intensity surprise (:func:`.surprise.joint_surprise`) with
    the best pooled AUPRC (all lesions) on calibration cases; the lowest among equals."""
    auprc = {float(floor): detection_metrics(joint_surprise(context, intensity, tables | {"intensity_floor": floor}),
                                             truth)["auprc"] for floor in INTENSITY_FLOORS}
    return max(auprc, key=auprc.get)


def figure(cases: list[LesionCase], scorers: dict[str, Scorer], thresholds: dict[str, float], path: Path,
           title: str) -> None:
    """input | lesion mask | heatmap | thresholded | baseline, at each case's slice with the most lesion."""
    columns: dict[str, list] = {"input": [], "lesion mask": [], "heatmap": [], "thresholded": [], "baseline": []}
    styles = {"input": None, "lesion mask": (0, 2, "viridis"), "heatmap": (0, 2 * thresholds["model"], "inferno"),
              "thresholded": (0, 1, "gray"), "baseline": (0, 1, "inferno")}
    for case in cases[:4]:
        k = int(np.argmax((case.mask.array > 0).sum(axis=(1, 2))))
        heat, baseline = scorers["model"](case)[k], scorers["baseline"](case)[k]
        image = case.image.array[k]
        columns["input"].append(image)
        columns["lesion mask"].append(case.mask.array[k])
        columns["heatmap"].append(heat)
        columns["thresholded"].append((heat >= thresholds["model"]).astype(float))
        columns["baseline"].append(baseline)
    low, high = np.percentile(np.concatenate([c.ravel() for c in columns["input"]]), [1, 99])
    styles["input"] = (float(low), float(high), "gray")
    save_image_grid(columns, path, styles, title=title)


class _Cached:
    """A scorer that remembers its last case (each case is scored once per method, used several times)."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer, self.key, self.value = scorer, None, None

    def __call__(self, case: LesionCase) -> np.ndarray:
        if self.key is not case:
            self.key, self.value = case, self.scorer(case)
        return self.value


def lesion_supersample(args: argparse.Namespace) -> int:
    return args.lesion_supersample or args.phantom_supersample


def calibration_phantoms(args: argparse.Namespace) -> tuple[list[LesionCase], list, str]:
    """The calibration lesion phantoms (drawn with ``--lesion-supersample``), the same phantoms without lesions,
    and how they were drawn, e.g. 'seeds 80000–80015, partial volume from 3³ samples per voxel'."""
    seeds = list(range(CALIBRATION_SEED_BASE, CALIBRATION_SEED_BASE + args.calibration))
    cases, normal = [], []
    for seed in seeds:
        phantom = generate_phantom(seed, tuple(args.phantom_size), supersample=lesion_supersample(args))
        cases.append(lesions_in(phantom, (args.modality,))[args.modality])
        normal.append(normal_image(phantom, args.modality))
    return cases, normal, drawn_seeds_text(seeds, lesion_supersample(args))


def familiar_volumes(args: argparse.Namespace, volumes: list, data: str, calibration_normal: list,
                     calibration_drawn: str) -> tuple[list, str]:
    """The volumes whose intensities the model knows, and what they are: its training volumes and, with
    ``--lesion-supersample``, the normal anatomy of its calibration phantoms (its surprise tables and threshold
    are fitted to them, so inputs like them need no warning)."""
    if not args.lesion_supersample:
        return volumes, data
    return volumes + calibration_normal, (f"{data}; and the normal anatomy of its calibration phantoms "
                                          f"({calibration_drawn})")


def anomaly_manifest(args: argparse.Namespace, config, familiar: tuple[list, str], networks: dict[str, torch.nn.Module],
                     info: dict, data: str) -> Manifest:
    """The bundle manifest; ``familiar``: the volumes behind the input statistics and what they are (see
    :func:`familiar_volumes`); ``info`` holds modality, normalisation, title, method description and settings."""
    normalisation = info["normalisation"]
    familiar, familiar_data = familiar
    settings = info["settings"] | {"smoothing_mm": SMOOTHING_MM, "body_level": BODY_LEVELS[normalisation.type],
                                   "threshold": 0.1}
    return Manifest(
        name=args.name, version="1.0.0", task="anomaly", title=info["title"], architecture={},
        default=args.modality == "ct" and info["settings"]["method"] == "inpainting",
        description=info["description"] + " The heatmap shows where an axial slice differs from that normal "
                                          "explanation, smoothed, inside the body"
                    + (INTENSITY_EVIDENCE_NOTE if args.intensity_evidence else "."),
        input=InputSpec(kind="image", modality=info["modality"], normalisation=normalisation,
                        statistics=input_statistics(familiar, normalisation, familiar_data)),
        output=OutputSpec(modality="anomaly heatmap", range=(0, 1),
                          units=heat_units("error_scale" in networks, args.intensity_evidence)),
        grid=Grid((args.spacing, args.spacing), plane="axial", in_plane_size=(info["settings"]["tile"],) * 2),
        anomaly=AnomalySettings.from_dict(settings),
        training=training_summary(config, data, args.training_note) | {
            "parameters": {part: count_parameters(network) for part, network in networks.items()}},
        limits=("Trained on procedural phantoms only: real images look different and the model has never seen "
                "them; it warns when an input's intensities are far from its training data.",
                "Normal anatomy the generator reconstructs poorly (bone edges, small vessels, the body outline) "
                "glows too; read the heatmap with the image, never alone.",
                "Lesions smaller than about two voxels at the model's 3 mm grid are smoothed away.",
                *(["Intensity evidence flags any intensity rare in the normal training data (contrast agent, "
                   "metal, another scanner's calibration) as well as lesions."] if args.intensity_evidence else []),
                "Research use only, not for diagnosis."))


def test_cases(args: argparse.Namespace) -> tuple[list[LesionCase], str]:
    if args.lesion_csv:
        from GANSynthesisTraining.data.volume_files import lesion_cases_from_csv  # reads files (SimpleITK)

        return lesion_cases_from_csv(args.lesion_csv), f"held-out scans listed in {args.lesion_csv}"
    seeds = held_out_seeds(args.held_out)
    return ([lesion_case(seed, args.modality, tuple(args.phantom_size), supersample=lesion_supersample(args))
             for seed in seeds], f"held-out lesion phantoms, {drawn_seeds_text(seeds, lesion_supersample(args))}")


def evaluate_and_export_anomaly(args: argparse.Namespace, config, volumes: list, networks: dict[str, torch.nn.Module],
                                info: dict, data: str) -> dict:
    """Calibrate the default threshold, the table of the heat of normal voxels (which turns a share of normal
    tissue to mark into a threshold) and, with intensity evidence, the surprise tables; compare with the
    baseline on held-out lesion cases, write metrics.json and held_out.png, and export the bundle if asked."""
    networks = {part: network.cpu().eval() for part, network in networks.items()}
    calibration, calibration_normal, drawn = calibration_phantoms(args)
    familiar = familiar_volumes(args, volumes, data, calibration_normal, drawn)
    manifest = anomaly_manifest(args, config, familiar, networks, info, data)
    draft = write_bundle(args.run_dir / "bundle", manifest, networks, model_card)  # evaluated as shipped (fp16)
    settings = manifest.anomaly.to_dict()
    options = InferenceOptions(device="cpu")
    baseline = IntensityRarity(volumes, info["normalisation"], settings["body_level"], settings["smoothing_mm"])
    context = _Cached(lambda case: context_evidence(case.image, draft, options).heat)
    rarity = _Cached(lambda case: baseline(case.image))
    scorers: dict[str, Scorer] = {"model": context, "baseline": rarity}
    print(f"calibrating on {args.calibration} lesion phantoms …", flush=True)
    settings["calibration"] = f"{args.calibration} lesion phantom{'s' * (args.calibration != 1)}, {drawn}"
    pooled, truth = calibration_scores(calibration, scorers)
    if args.intensity_evidence:
        settings["intensity_rarity"] = [round(float(value), 6) for value in baseline.rarity]
        settings["surprise"] = {"context": tail_table(pooled["model"][~truth]),
                                "intensity": tail_table(pooled["baseline"][~truth])}
        settings["surprise"]["intensity_floor"] = best_intensity_floor(pooled["model"], pooled["baseline"], truth,
                                                                       settings["surprise"])
        pooled |= {"model": combined_heat(pooled["model"], pooled["baseline"], settings["surprise"]),
                   CONTEXT_ALONE: pooled["model"]}
        scorers = {"model": lambda case: combined_heat(context(case), rarity(case), settings["surprise"]),
                   CONTEXT_ALONE: context, "baseline": rarity}
    thresholds = {name: best_threshold(pooled[name], truth) for name in scorers}
    settings["normal_heat"] = tail_table(pooled["model"][~truth])
    cases, test_data = test_cases(args)
    print(f"evaluating on {len(cases)} held-out cases …", flush=True)
    metrics = score_cases(cases, scorers, thresholds)
    metrics |= {"cases": len(cases), "data": test_data, "thresholds": thresholds, "baseline_name": baseline.name}
    figure_path = args.run_dir / "held_out.png"
    figure(cases, scorers, thresholds, figure_path,
           f"held-out: input | lesions (1 in range, 2 out of range) | {args.name} | ≥ threshold | baseline")
    (args.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(detection_table(metrics))
    if args.export:
        settings["threshold"] = round(thresholds["model"], 4)
        summary = {key: metrics[key] for key in ("cases", "data", "thresholds", "baseline_name")}
        for name in scorers:
            summary[name] = {subset: {"pooled": metrics[name][subset]["pooled"],
                                      "mean_auroc": metrics[name][subset]["mean_auroc"],
                                      "mean_auprc": metrics[name][subset]["mean_auprc"],
                                      "mean_best_dice": metrics[name][subset]["mean_best_dice"],
                                      "cases": metrics[name][subset]["cases"]} for subset in SUBSETS}
        calibrated = replace(manifest, anomaly=AnomalySettings.from_dict(settings), metrics=summary)
        bundle = write_bundle(args.export, calibrated, networks, model_card, figure_path)
        print(f"exported {bundle.name} to {bundle.path}")
    return metrics

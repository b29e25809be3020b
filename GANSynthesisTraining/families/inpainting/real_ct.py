"""Calibrate an inpainting anomaly bundle on real normal CT, tissue kind by tissue kind; evaluate it on real lesions
and lesion phantoms beside plain baselines and the previous model; export it.

The networks come from a bundle trained with ``inpainting --real-ct`` (``gpu_session.sh`` trains one). Inference
lays the grid of squares n × n times and averages the grids (a tumour larger than the square cannot explain itself).
Every voxel is judged against normal voxels of its own kind (the lung region, or the rest of the body): per kind,
an intensity rarity table and surprise tables of the context heat and the smoothed rarity, all from the normal
voxels of the real CTs' training slabs and of the calibration phantoms. The intensity floor is the one with the
best AUPRC on the calibration lesion phantoms; the default threshold marks ``--normal-share`` of those normal
voxels.

  python -m GANSynthesisTraining anomaly-real-ct --networks-from runs/an24/bundle --run-dir runs/anomaly-real \\
      --export Resources/Models/anomaly-ct-real
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.models.bundle import ModelBundle, load_bundle
from GANSynthesisLib.models.bundled_networks import load_network
from GANSynthesisLib.models.manifest import AnomalySettings, Manifest
from GANSynthesisLib.models.registry import BUNDLED_MODELS_DIR
from GANSynthesisLib.phantoms.lesions import lesions_in, normal_image
from GANSynthesisLib.phantoms.thorax import generate_phantom
from GANSynthesisLib.tasks.anomaly.detection import context_evidence, find_anomalies, heat_units
from GANSynthesisLib.tasks.anomaly.intensity_rarity import fit_intensity_rarity
from GANSynthesisLib.tasks.anomaly.surprise import heat_from_surprise, tail_table
from GANSynthesisLib.tasks.anomaly.tissue_kinds import KINDS, kind_masks, kind_surprise, smoothed_rarity
from GANSynthesisTraining.bundles.writer import write_bundle
from GANSynthesisTraining.command_line.arguments import add_anomaly_arguments, add_threads_argument
from GANSynthesisTraining.data.inserted_lesions import TUMOURS, lesion_scans
from GANSynthesisTraining.data.normal_anatomy import normal_tile_bank
from GANSynthesisTraining.data.phantom_seeds import drawn_seeds_text, held_out_seeds
from GANSynthesisTraining.data.real_normal_ct import (DATA_SENTENCE, HELD_OUT_SENTENCE, LesionScan,
                                                       real_normal_held_out_volumes, real_normal_training_volumes,
                                                       scan_body)
from GANSynthesisTraining.evaluation.anomaly_evaluation import CALIBRATION_SEED_BASE
from GANSynthesisTraining.evaluation.baselines import IntensityRarity
from GANSynthesisTraining.evaluation.detection_metrics import at_threshold, detection_metrics
from GANSynthesisTraining.evaluation.plots import plt
from GANSynthesisTraining.families.inpainting.model import InpaintingBank
from GANSynthesisTraining.loop.trainer import BATCH_NORM_BATCHES, recalibrate_batch_norm

FLOORS = (0.0, 1.0, 2.0, 3.0)
PHANTOM_SUPERSAMPLE = 3  # calibration and evaluation phantoms carry the partial volume of real scans
LUNG_REGION = {"air_hu": -400.0, "min_lung_ml": 100.0}
GROUPS = ("real nodule", "tumours inserted in real CT", "lesion phantoms")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bundle to calibrate, the calibration and evaluation settings, the run folder and export."""
    parser.add_argument("--networks-from", type=Path, required=True, metavar="BUNDLE",
                        help="inpainting anomaly bundle whose networks to calibrate (trained with --real-ct)")
    parser.add_argument("--run-dir", type=Path, required=True, help="run folder: metrics.json, held_out.png")
    parser.add_argument("--export", type=Path, help="bundle folder to write")
    parser.add_argument("--name", default="anomaly-ct-real", help="model name in the bundle")
    parser.add_argument("--grid-shifts", type=int, default=4, help="grids of squares laid n × n times and averaged")
    parser.add_argument("--closing-mm", type=float, default=30.0,
                        help="radius of the 3-D closing that joins masses against the chest wall to the lung region")
    parser.add_argument("--normal-share", type=float, default=0.005,
                        help="share of normal body voxels the default threshold marks")
    parser.add_argument("--calibration", type=int, default=4, help="calibration lesion phantoms (seeds 80000…)")
    parser.add_argument("--held-out", type=int, default=8, help="held-out lesion phantoms (seeds 90000…)")
    parser.add_argument("--compare", type=Path, default=BUNDLED_MODELS_DIR / "anomaly-ct-phantom",
                        help="the anomaly bundle to compare with")
    parser.add_argument("--default", action="store_true", help="mark the bundle as the default anomaly model")
    parser.add_argument("--settle-batch-norm", type=int, metavar="PHANTOMS",
                        help="first re-estimate the generator's batch-norm statistics for its own (EMA) weights on "
                             "the tiles `inpainting --real-ct --phantoms PHANTOMS` trains on: for a bundle exported "
                             "before training did so")
    add_threads_argument(parser, 2)


def settle_generator(generator: torch.nn.Module, bundle: ModelBundle, phantoms: int) -> str:
    """Re-estimate the generator's batch-norm statistics on the tiles of the data ``inpainting --real-ct
    --phantoms N`` trains on (that command's defaults for the grid); the sentence for the training summary."""
    parser = argparse.ArgumentParser()
    add_anomaly_arguments(parser)
    data = parser.parse_args(["--phantoms", str(phantoms), "--real-ct", "--modality", "ct", "--run-dir", "unused",
                              "--spacing", str(bundle.manifest.grid.in_plane_spacing_mm[0])])
    settings = bundle.manifest.anomaly.to_dict()
    _, tiles = normal_tile_bank(data, bundle.manifest.input.normalisation, settings["tile"], "cpu")
    bank, sampler = InpaintingBank(tiles, settings["hole"]), torch.Generator().manual_seed(0)
    batch_size = bundle.manifest.training.get("batch_size", 64)
    batches = recalibrate_batch_norm(generator, (bank.sample(batch_size, sampler)[0]
                                                 for _ in range(BATCH_NORM_BATCHES)))
    return (f" The generator's batch-norm statistics were then re-estimated for its EMA weights on {batches} batches "
            f"of {batch_size} training tiles (the EMA had copied those of the trained weights).")


def _phantoms(seeds: list[int]) -> tuple[list[LesionScan], list[Volume]]:
    """Lesion phantoms (as lesion scans) and the normal images of the same phantoms."""
    scans, normal = [], []
    for seed in seeds:
        phantom = generate_phantom(seed, (128, 128, 48), supersample=PHANTOM_SUPERSAMPLE)
        case = lesions_in(phantom, ("ct",))["ct"]
        scans.append(LesionScan(f"lesion phantom {seed}", case.image,
                                case.mask.with_array((case.mask.array > 0).astype(np.uint8))))
        normal.append(normal_image(phantom, "ct"))
    return scans, normal


class KindCalibration:
    """Per-kind tables from normal volumes, then the surprise of any volume in them."""

    def __init__(self, draft: ModelBundle, normal: list[Volume], tissue_kinds: dict, options: InferenceOptions) -> None:
        self.draft, self.options, self.tissue_kinds = draft, options, tissue_kinds
        self.smoothing = float(draft.manifest.anomaly.smoothing_mm)
        parts = [self._parts(volume) for volume in normal]
        kinds = tissue_kinds["kinds"] = {}
        for kind in KINDS:
            rarity = fit_intensity_rarity([normalised[masks[kind]] for _, normalised, masks, _ in parts])
            kinds[kind] = {"intensity_rarity": [round(float(value), 6) for value in rarity]}
        rarities = [smoothed_rarity(normalised, volume, masks, kinds, self.smoothing)
                    for (_, normalised, masks, _), volume in zip(parts, normal)]
        for kind in KINDS:
            kinds[kind]["context"] = tail_table(np.concatenate([heat[masks[kind]] for heat, _, masks, _ in parts]))
            kinds[kind]["intensity"] = tail_table(np.concatenate([r[p[2][kind]] for r, p in zip(rarities, parts)]))
        self.normal_evidence = [(heat, rarity, masks, body) for (heat, _, masks, body), rarity in zip(parts, rarities)]

    def _parts(self, volume: Volume) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
        evidence = context_evidence(volume, self.draft, self.options)
        masks = kind_masks(volume.array.astype(np.float32), evidence.body, volume, self.tissue_kinds)
        return evidence.heat, evidence.normalised, masks, evidence.body

    def evidence(self, volume: Volume) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
        """Context heat, smoothed per-kind rarity, kind masks and body of a volume."""
        heat, normalised, masks, body = self._parts(volume)
        return heat, smoothed_rarity(normalised, volume, masks, self.tissue_kinds["kinds"], self.smoothing), masks, body


def choose_floor(calibration: KindCalibration, cases: list[LesionScan]) -> float:
    """The intensity floor with the best pooled AUPRC on the calibration lesion phantoms."""
    parts = [calibration.evidence(case.image) for case in cases]
    truth = np.concatenate([case.mask.array[body] > 0 for case, (_, _, _, body) in zip(cases, parts)])
    scores = {}
    for floor in FLOORS:
        settings = calibration.tissue_kinds | {"intensity_floor": floor}
        joint = np.concatenate([kind_surprise(h, r, m, settings)[b] for h, r, m, b in parts])
        scores[floor] = detection_metrics(joint.astype(np.float64), truth)["auprc"]
    print("intensity floor → calibration AUPRC: " + ", ".join(f"{f:g}: {a:.4f}" for f, a in scores.items()),
          flush=True)
    return max(scores, key=scores.get)


def _group_metrics(scans: list[LesionScan], score, threshold: float | None) -> dict:
    """Pooled pixel metrics over the body voxels of the scans (and at ``threshold`` when given)."""
    values, truth = [], []
    for scan in scans:
        body = scan_body(scan)
        values.append(np.asarray(score(scan), np.float64)[body])
        truth.append(scan.mask.array[body] > 0)
    values, truth = np.concatenate(values), np.concatenate(truth)
    metrics = detection_metrics(values, truth)
    if threshold is not None:
        marked = at_threshold(values, truth, threshold)
        metrics |= {"dice_at_threshold": marked["dice"], "lesion_found_at_threshold": marked["lesion_found"],
                    "normal_marked_at_threshold": marked["normal_marked"]}
    return metrics | {"cases": len(scans), "lesion_fraction": float(truth.mean())}


class Heatmaps:
    """Each model's heatmap of each scan, computed once (the evaluation and the figure share them)."""

    def __init__(self, options: InferenceOptions) -> None:
        self.options, self.computed = options, {}

    def __call__(self, bundle: ModelBundle, scan: LesionScan) -> np.ndarray:
        key = (bundle.name, scan.name)
        if key not in self.computed:
            self.computed[key] = find_anomalies(scan.image, bundle, self.options).heatmap.array
        return self.computed[key]


def evaluate(bundle: ModelBundle, compare: ModelBundle, baseline: IntensityRarity, groups: dict[str, list[LesionScan]],
             heatmaps: Heatmaps) -> dict:
    """Per group and method: pooled AUROC, AUPRC and best Dice in the body."""
    methods = {"model": lambda scan: heatmaps(bundle, scan), compare.name: lambda scan: heatmaps(compare, scan),
               "baseline": lambda scan: baseline(scan.image),
               "voxel HU": lambda scan: scan.image.array}
    metrics: dict = {name: {} for name in methods}
    for group, scans in groups.items():
        for name, score in methods.items():
            threshold = bundle.manifest.anomaly.threshold if name == "model" else None
            metrics[name][group] = {"pooled": _group_metrics(scans, score, threshold)}
            pooled = metrics[name][group]["pooled"]
            print(f"{group:28s} {name:22s} AUROC {pooled['auroc']:.3f}  AUPRC {pooled['auprc']:.4f}  "
                  f"best Dice {pooled['best_dice']:.3f}", flush=True)
    return metrics


def figure(bundle: ModelBundle, compare: ModelBundle, scans: list[LesionScan], path: Path,
           heatmaps: Heatmaps) -> None:
    """Rows: scans at their slice of largest lesion area; columns: image with the lesion outline, this model's
    heatmap with its threshold outline, the compared model's heatmap."""
    fig, axes = plt.subplots(len(scans), 3, figsize=(11, 3.6 * len(scans)), squeeze=False)
    for row, scan in zip(axes, scans):
        mask = scan.mask.array > 0
        k = int(np.argmax(mask.sum(axis=(1, 2))))
        heat, other = heatmaps(bundle, scan), heatmaps(compare, scan)
        aspect = scan.image.spacing[1] / scan.image.spacing[0]
        row[0].imshow(scan.image.array[k], cmap="gray", vmin=-1000, vmax=400, aspect=aspect)
        row[0].contour(mask[k], [0.5], colors="lime", linewidths=0.8)
        row[0].set_title(scan.name[:60], fontsize=8)
        for axis, values, title in ((row[1], heat, bundle.name), (row[2], other, compare.name)):
            axis.imshow(scan.image.array[k], cmap="gray", vmin=-1000, vmax=400, aspect=aspect)
            axis.imshow(np.ma.masked_less(values[k], 0.02), cmap="hot", vmin=0, vmax=0.6, alpha=0.7, aspect=aspect)
            axis.contour(mask[k], [0.5], colors="lime", linewidths=0.8)
            axis.set_title(title, fontsize=8)
        row[1].contour(heat[k] >= bundle.manifest.anomaly.threshold, [0.5], colors="cyan", linewidths=0.6)
    for axis in axes.ravel():
        axis.axis("off")
    fig.suptitle("lesion (green), heat (0 … 0.6), at the default threshold (cyan)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=55)
    plt.close(fig)
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)  # a palette PNG: less than half the bytes


def detection_table(metrics: dict, compare: str) -> str:
    """Markdown: group, method, AUROC, AUPRC, best Dice."""
    labels = {"model": "**this model**", compare: f"{compare} (previous default)",
              "baseline": "intensity rarity (voxel's intensity in normal anatomy)", "voxel HU": "voxel HU"}
    lines = ["| lesions | method | AUROC ↑ | AUPRC ↑ | best Dice ↑ |", "| --- | --- | --- | --- | --- |"]
    for group in metrics["model"]:
        for name, label in labels.items():
            p = metrics[name][group]["pooled"]
            lines.append(f"| {group} | {label} | {p['auroc']:.3f} | {p['auprc']:.4f} | {p['best_dice']:.3f} |")
    return "\n".join(lines)


def model_card(manifest: Manifest) -> str:
    """The Markdown model card of a real-CT anomaly bundle."""
    metrics, settings = manifest.metrics, manifest.anomaly
    model = metrics["model"]["real nodule"]["pooled"]
    lines = [f"# {manifest.display_title} (`{manifest.name}` v{manifest.version})", "", manifest.description, "",
             f"**Intended use:** {manifest.intended_use}.", "", f"**Trained on:** {manifest.training['data']}", "",
             f"**Training:** {manifest.training['summary']}", "", f"**Calibrated on:** {settings.calibration}", "",
             "## Detection on real scans and phantoms it never trained on", "",
             detection_table(metrics, metrics["compared_with"]), "",
             "Pixel metrics over the body voxels, pooled over the cases of each group: " + metrics["data"], "",
             f"At the default threshold {settings.threshold:g} (it marks {metrics['normal_share']:.1%} of the body "
             f"voxels of the real normal CT it was calibrated on) it finds "
             f"{model['lesion_found_at_threshold']:.0%} of the real nodule's voxels and marks {model['normal_marked_at_threshold']:.2%} of that scan's other body "
             "voxels.", ""]
    if manifest.extra.get("figure"):
        lines += [f"![held-out cases]({manifest.extra['figure']})", ""]
    lines += ["## Limits", "", *[f"- {limit}" for limit in manifest.limits], ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Calibrate per tissue kind, evaluate beside the baselines and the compared model, export if asked."""
    args.run_dir.mkdir(parents=True, exist_ok=True)
    source = load_bundle(args.networks_from)
    networks = {part: load_network(source, part) for part in source.manifest.architecture}
    training = dict(source.manifest.training)
    if args.settle_batch_norm:
        print("re-estimating the generator's batch-norm statistics …", flush=True)
        training["summary"] = training.get("summary", "") + settle_generator(networks["generator"], source,
                                                                             args.settle_batch_norm)
    options = InferenceOptions(device="cpu")
    tissue_kinds = {"lung_region": LUNG_REGION | {"closing_mm": args.closing_mm}}
    base = {key: value for key, value in source.manifest.anomaly.to_dict().items()
            if key not in ("surprise", "intensity_rarity", "normal_heat", "calibration")}
    draft_settings = base | {"grid_shifts": args.grid_shifts, "shift_pooling": "mean"}
    draft = write_bundle(args.run_dir / "draft", replace(source.manifest, anomaly=AnomalySettings.from_dict(
        draft_settings)), networks, lambda manifest: "")
    calibration_seeds = list(range(CALIBRATION_SEED_BASE, CALIBRATION_SEED_BASE + args.calibration))
    calibration_cases, calibration_normal = _phantoms(calibration_seeds)
    real, real_held_out = real_normal_training_volumes(), real_normal_held_out_volumes()
    normal = real + calibration_normal
    print(f"calibrating per tissue kind on {len(normal)} normal volumes …", flush=True)
    calibration = KindCalibration(draft, normal, tissue_kinds, options)
    tissue_kinds["intensity_floor"] = choose_floor(calibration, calibration_cases)
    real_evidence = calibration.normal_evidence[:len(real)] + [calibration.evidence(v) for v in real_held_out]
    heat = [heat_from_surprise(kind_surprise(h, r, m, tissue_kinds))[b] for h, r, m, b in real_evidence]
    normal_heat = tail_table(np.concatenate(heat))
    heats, decades = np.asarray(normal_heat, np.float64).T
    threshold = float(np.interp(-np.log10(args.normal_share), decades, heats))
    drawn = drawn_seeds_text(calibration_seeds, PHANTOM_SUPERSAMPLE)
    settings = draft_settings | {
        "tissue_kinds": tissue_kinds, "normal_heat": normal_heat, "threshold": round(threshold, 4),
        "calibration": f"normal voxels of {DATA_SENTENCE}, and of {args.calibration} calibration phantoms ({drawn}); "
                       f"intensity floor {tissue_kinds['intensity_floor']:g} by the best AUPRC on the lesions of "
                       "those phantoms; the default threshold and the normal-share table from the body voxels of the "
                       f"real CT alone (those slabs, and {HELD_OUT_SENTENCE}): the threshold marks "
                       f"{args.normal_share:.1%} of them"}
    spacing = source.manifest.grid.in_plane_spacing_mm[0]
    manifest = replace(
        source.manifest, name=args.name, default=args.default, training=training,
        title="CT anomaly heatmap, inpainting GAN judged per tissue kind (real + phantom CT)",
        description=("Inpainting GAN (pix2pix U-Net + PatchGAN) trained on normal real and phantom CT: every "
                     f"{base['hole']}×{base['hole']}-pixel square of a slice ({base['hole'] * spacing:g} mm) is filled "
                     "in from "
                     f"the {base['tile']}×{base['tile']} tile around it, on {args.grid_shifts}×{args.grid_shifts} "
                     "shifted grids whose residuals are averaged; a second network predicts how far off each fill "
                     "usually is. Each voxel is then judged against normal tissue of its own kind (the lung region, "
                     "masses against the chest wall included, or the rest of the body): how unusual its residual is "
                     "there, plus how rare its intensity is there beyond a floor."),
        output=replace(source.manifest.output, units=heat_units(True, True)),
        anomaly=AnomalySettings.from_dict(settings),
        limits=("Real CT behind it: two scans (one chest CT, one abdomen CT) and phantoms; other scanners, kernels, "
                "contrast phases and children are unseen.",
                "Normal anatomy the generator fills poorly (hilar vessels, bone edges, the body outline) glows too; "
                "read the heatmap with the image, never alone.",
                "The lung region joins masses against the chest wall to the lung; a mass in the mediastinum or "
                "the hilum is judged as body tissue, where soft tissue is common, and stands out less.",
                "Research use only, not for diagnosis."))
    bundle = write_bundle(args.run_dir / "calibrated", manifest, networks, lambda manifest: "")
    compare = load_bundle(args.compare)
    baseline = IntensityRarity(normal, source.manifest.input.normalisation, float(base["body_level"]),
                               float(base["smoothing_mm"]))
    scans = lesion_scans()
    phantoms, _ = _phantoms(held_out_seeds(args.held_out))
    groups = dict(zip(GROUPS, ([scans[0]], scans[1:], phantoms)))
    heatmaps = Heatmaps(options)
    metrics = evaluate(bundle, compare, baseline, groups, heatmaps)
    metrics |= {"compared_with": compare.name, "normal_share": args.normal_share,
                "data": (f"the real nodule case is pyradiomics lung1 slices 27–39 (never trained on); the tumours "
                         f"({len(TUMOURS)}: {'; '.join(TUMOURS)}) are drawn into the same held-out slices; the "
                         f"phantoms are {drawn_seeds_text(held_out_seeds(args.held_out), PHANTOM_SUPERSAMPLE)}")}
    (args.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    figure_path = args.run_dir / "held_out.png"
    figure(bundle, compare, [scans[0], scans[1], phantoms[0]], figure_path, heatmaps)
    print(detection_table(metrics, compare.name))
    if args.export:
        exported = write_bundle(args.export, replace(bundle.manifest, metrics=metrics), networks, model_card,
                                figure_path)
        print(f"exported {exported.name} to {exported.path}")
    return 0

"""Export a trained generator as a model bundle with its model card."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from GANSynthesisLib.models.bundle import ModelBundle
from GANSynthesisLib.models.manifest import Manifest
from GANSynthesisLib.models.networks import UNetGenerator, count_parameters
from GANSynthesisLib.tasks.anomaly.card_lines import normal_share_line
from GANSynthesisTraining.bundles.writer import write_bundle

CONTEXT_ALONE = "context alone"  # metrics key: a model with intensity evidence judged on its networks alone


def metrics_table(metrics: dict) -> str:
    """Markdown table: the model and each baseline, mean ± standard deviation over held-out cases."""
    lines = ["| method | MAE (HU) ↓ | PSNR (dB) ↑ | SSIM ↑ |", "| --- | --- | --- | --- |"]
    for label, m in [("**this model**", metrics["model"]), *metrics["baselines"].items()]:
        lines.append(f"| {label} | {m['mae']:.1f} ± {m['mae_std']:.1f} | {m['psnr']:.2f} ± {m['psnr_std']:.2f} | "
                     f"{m['ssim']:.3f} ± {m['ssim_std']:.3f} |")
    return "\n".join(lines)


def detection_table(metrics: dict) -> str:
    """Markdown: pooled pixel AUROC, AUPRC, best Dice, and at the default threshold Dice, lesion voxels found and
    normal voxels marked, model beside baseline (and beside its networks alone when it adds intensity evidence),
    for each lesion subset."""
    lines = ["| lesions | method | AUROC ↑ | AUPRC ↑ | best Dice ↑ | at default threshold: Dice ↑ "
             "| lesion voxels found ↑ | normal voxels marked ↓ |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    labels = {"model": "**this model**", CONTEXT_ALONE: "its networks alone (no intensity evidence)",
              "baseline": metrics["baseline_name"]}
    for subset in metrics["model"]:
        for name, label in [(name, label) for name, label in labels.items() if name in metrics]:
            p = metrics[name][subset]["pooled"]
            lines.append(f"| {subset} | {label} | {p['auroc']:.3f} | {p['auprc']:.3f} | {p['best_dice']:.3f} | "
                         f"{p['dice_at_threshold']:.3f} | {p['lesion_found_at_threshold']:.1%} | "
                         f"{p['normal_marked_at_threshold']:.2%} |")
    return "\n".join(lines)


def model_card(manifest: Manifest) -> str:
    """A Markdown model card from a manifest."""
    metrics = manifest.metrics
    lines = [f"# {manifest.display_title} (`{manifest.name}` v{manifest.version})", "",
             manifest.description or "", "", f"**Intended use:** {manifest.intended_use}.", "",
             f"**Trained on:** {manifest.training['data']}", "",
             f"**Training:** {manifest.training['summary']}", ""]
    if metrics and manifest.task == "anomaly":
        lines += [f"## Held-out detection ({metrics['cases']} cases, {metrics['data']})", "",
                  detection_table(metrics), "",
                  "Pixel-level metrics over the voxels of the body, pooled over cases. *In-range* lesions have the "
                  "intensity of another normal tissue, so no intensity threshold can single them out. Default "
                  f"threshold {manifest.anomaly.threshold:g} (heatmap units), the best Dice on separate "
                  f"calibration phantoms ({manifest.anomaly.calibration or 'not recorded'})."
                  + (f" The intensity evidence counts beyond a surprise of "
                     f"{manifest.anomaly.surprise['intensity_floor']:g}, the floor with the best AUPRC on the "
                     "same calibration phantoms. *Its networks alone* is the same model's heat without the intensity "
                     "evidence." if CONTEXT_ALONE in metrics else ""), ""]
        share_line = normal_share_line(manifest)
        lines += [f"{share_line} (`--normal-share` on the command line).", ""] if share_line else []
    elif metrics:
        lines += [f"## Held-out metrics ({metrics['cases']} cases, {metrics['data']})", "",
                  metrics_table(metrics), "",
                  "Metrics are computed inside the body mask the way SynthRAD2023 does (PSNR and SSIM on "
                  "[-1024, 3000] HU, data range 4024).", ""]
    if manifest.extra.get("figure"):
        lines += [f"![held-out cases]({manifest.extra['figure']})", ""]
    lines += ["## Limits", "", *[f"- {limit}" for limit in manifest.limits], ""]
    return "\n".join(lines)


def export_generator(folder: Path, generator: UNetGenerator, manifest: Manifest,
                     figure: Path | None = None) -> ModelBundle:
    """Write the generator's bundle (fp16 safetensors, model.json) and its model card (README.md) into ``folder``."""
    manifest = replace(manifest, training=manifest.training | {"generator_parameters": count_parameters(generator)})
    return write_bundle(folder, manifest, {"generator": generator}, model_card, figure)

"""The copy check: how close each generated image is to its nearest real image, against the distances between the
real images themselves.

Similarity: every axial slice that crosses the body is cropped to the body's bounding box (which aligns bodies of
any size and position) and resampled to 64 × 64, HU clipped to [-1000, 1000]. A generated case's distance to a
reference is the mean over its slices of the MAE (HU) to the best-matching reference slice; the SSIM of those slice
pairs is reported beside it. An exact copy is 0 HU and SSIM 1. A case nearer to a reference than ``threshold_hu`` is
flagged; the default threshold is half the smallest distance between two different references (so a flagged case is
twice as close to a real image as any two real images are to each other), or 15 HU with a single reference.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import ndimage

from ..core.errors import GANSynthesisError
from ..evaluation.image_metrics import body_mask_from_ct, ssim_map
from ..files.case_folder import image_cases
from ..files.image_files import image_file_suffix, read_volume
from .nnunet_dataset import (case_names, image_path, is_rejected, manifest_path, read_case, record_review,
                             write_json)

SIGNATURE_SIZE = 64
HU_CLIP = (-1000.0, 1000.0)
SINGLE_REFERENCE_THRESHOLD_HU = 15.0
CHECKER = "copy check"


@dataclass(frozen=True)
class NearestReference:
    """A generated case's nearest reference and how near it is."""

    case: str
    reference: str
    reference_path: str
    mae_hu: float
    ssim: float
    flagged: bool


def slice_signatures(ct: np.ndarray, size: int = SIGNATURE_SIZE) -> np.ndarray:
    """(slices, size, size) float32: each slice that crosses the body, cropped to the body and resampled."""
    body = body_mask_from_ct(ct)
    areas = body.reshape(len(body), -1).sum(1)
    if areas.max(initial=0) == 0:
        raise GANSynthesisError("The image holds no body (no voxel above -500 HU); is it a CT?")
    signatures = []
    for image, mask, area in zip(ct, body, areas):
        if area < 0.2 * areas.max():
            continue
        rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
        crop = np.clip(image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], *HU_CLIP).astype(np.float32)
        zoom = (size / crop.shape[0], size / crop.shape[1])
        signatures.append(ndimage.zoom(crop, zoom, order=1, mode="nearest", grid_mode=True))
    return np.stack(signatures)


def best_matches(case: np.ndarray, reference: np.ndarray, chunk: int = 64) -> tuple[float, np.ndarray]:
    """Mean over ``case``'s slices of the MAE to the best-matching ``reference`` slice, and those slices' indices."""
    flat_case, flat_ref = case.reshape(len(case), -1), reference.reshape(len(reference), -1)
    best = np.empty(len(case), int)
    best_mae = np.empty(len(case))
    for start in range(0, len(case), chunk):
        part = np.abs(flat_case[start:start + chunk, None, :] - flat_ref[None]).mean(-1)
        best[start:start + chunk] = part.argmin(1)
        best_mae[start:start + chunk] = part.min(1)
    return float(best_mae.mean()), best


def matched_ssim(case: np.ndarray, reference: np.ndarray, best: np.ndarray) -> float:
    """Mean SSIM of each ``case`` slice with its best-matching ``reference`` slice."""
    low, high = HU_CLIP
    return float(np.mean([ssim_map(case[i] - low, reference[best[i]] - low, high - low).mean()
                          for i in range(len(case))]))


def reference_images(paths: list[Path]) -> list[tuple[str, Path]]:
    """(name, path) for each reference image file, and each image in each reference folder."""
    found = []
    for path in paths:
        if path.is_dir():  # a folder of images, or one DICOM series
            has_images = any(image_file_suffix(p.name) for p in path.iterdir())
            found.extend(image_cases(path) if has_images else [(path.name, path)])
        elif path.exists():
            suffix = image_file_suffix(path.name) or ""
            found.append((path.name[: len(path.name) - len(suffix)] if suffix else path.name, path))
        else:
            raise GANSynthesisError(f"Reference {path} not found; give real CT images or folders of them.")
    if not found:
        raise GANSynthesisError("No reference images given; the copy check needs the real images to compare with.")
    return found


def real_vs_real(signatures: dict[str, np.ndarray]) -> list[float]:
    """Each reference's distance to its nearest other reference (empty with one reference)."""
    names = list(signatures)
    if len(names) < 2:
        return []
    return [min(best_matches(signatures[a], signatures[b])[0] for b in names if b != a) for a in names]


def check_copies(root: Path, references: list[Path], threshold_hu: float | None = None, drop: bool = False,
                 progress: Callable[[float, str], None] | None = None) -> dict:
    """Find each generated case's nearest reference, flag near-copies (and reject them if ``drop``), write the
    report into ``root/copy_check``; the report's content."""
    progress = progress or (lambda fraction, message: None)
    named = reference_images(references)
    signatures, paths = {}, dict(named)
    for index, (name, path) in enumerate(named):
        progress(0.3 * index / len(named), f"reading reference {name}")
        signatures[name] = slice_signatures(read_volume(path).array)
    progress(0.3, "distances between the references")
    between = real_vs_real(signatures)
    if threshold_hu is None:
        threshold_hu = 0.5 * min(between) if between else SINGLE_REFERENCE_THRESHOLD_HU
    cases = [c for c in case_names(root) if not is_rejected(read_case(root, c)) and image_path(root, c).exists()]
    results = []
    for index, case in enumerate(cases):
        progress(0.35 + 0.6 * index / max(len(cases), 1), f"checking {case}")
        signature = slice_signatures(read_volume(image_path(root, case)).array)
        matches = {name: best_matches(signature, ref) for name, ref in signatures.items()}
        nearest = min(matches, key=lambda name: matches[name][0])
        mae, best = matches[nearest]
        ssim = matched_ssim(signature, signatures[nearest], best)  # SSIM for the nearest reference only
        results.append(NearestReference(case, nearest, str(paths[nearest]), round(mae, 2), round(ssim, 4),
                                        mae < threshold_hu))
    report = {"threshold_hu": round(threshold_hu, 2), "references": [str(p) for _, p in named],
              "real_vs_real_hu": [round(d, 2) for d in between], "cases": [asdict(r) for r in results],
              "flagged": [r.case for r in results if r.flagged], "dropped": []}
    for result in results:
        manifest = read_case(root, result.case)
        manifest["copy_check"] = asdict(result) | {"threshold_hu": report["threshold_hu"]}
        write_json(manifest_path(root, result.case), manifest)
        if drop and result.flagged:
            record_review(root, result.case, "rejected", f"near-copy of reference {result.reference} (copy check: "
                          f"{result.mae_hu:.1f} HU < {threshold_hu:.1f} HU, SSIM {result.ssim:.3f})", CHECKER)
            report["dropped"].append(result.case)
    write_report(root / "copy_check", report)
    progress(1.0, f"{len(report['flagged'])} of {len(results)} cases flagged")
    return report


def write_report(folder: Path, report: dict) -> None:
    """report.json, distances.csv, nearest_distances.png and report.md."""
    folder.mkdir(exist_ok=True)
    write_json(folder / "report.json", report)
    with open(folder / "distances.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["case", "nearest_reference", "mae_hu", "ssim", "flagged"])
        for row in report["cases"]:
            writer.writerow([row["case"], row["reference"], row["mae_hu"], row["ssim"], row["flagged"]])
    plot_distances(folder / "nearest_distances.png", report)
    lines = [
        "# Copy check", "",
        f"Nearest real image of each generated case (mean MAE of the best-matching body-aligned slices, HU); "
        f"flagged below {report['threshold_hu']} HU. References: {len(report['references'])}.", "",
        f"- generated cases: {len(report['cases'])}; flagged: {len(report['flagged'])}"
        + (f" ({', '.join(report['flagged'])})" if report["flagged"] else ""),
        f"- dropped (rejected, files moved to rejected/): {len(report['dropped'])}",
    ]
    if report["cases"]:
        distances = [row["mae_hu"] for row in report["cases"]]
        lines.append(f"- generated → nearest real: median {np.median(distances):.1f} HU (min {min(distances):.1f}, "
                     f"max {max(distances):.1f})")
    if report["real_vs_real_hu"]:
        lines.append(f"- real → nearest other real (for scale): median {np.median(report['real_vs_real_hu']):.1f} HU "
                     f"(min {min(report['real_vs_real_hu']):.1f})")
    lines += ["", "![nearest distances](nearest_distances.png)", "", "| case | nearest reference | MAE (HU) | SSIM | "
              "flagged |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['case']} | {r['reference']} | {r['mae_hu']} | {r['ssim']} | {'**yes**' if r['flagged'] else ''} |"
              for r in report["cases"]]
    (folder / "report.md").write_text("\n".join(lines) + "\n")


def plot_distances(path: Path, report: dict) -> None:
    """Histogram of generated → nearest real distances beside real → nearest real, with the threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.2), dpi=100)
    generated = [row["mae_hu"] for row in report["cases"]]
    real = report["real_vs_real_hu"]
    values = generated + real + [report["threshold_hu"]]
    bins = np.linspace(0, max(values) * 1.05 + 1e-6, 30)
    axes.hist(generated, bins, alpha=0.7, label="generated → nearest real")
    if real:
        axes.hist(real, bins, alpha=0.7, label="real → nearest other real")
    axes.axvline(report["threshold_hu"], color="red", linestyle="--", label="flag threshold")
    axes.set_xlabel("mean MAE of best-matching slices (HU)")
    axes.set_ylabel("cases")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)

"""The quick-start demo: a new phantom, the default synthesis model, the synthetic CT, previews and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .core.progress import TerminalProgress
from .engine.inference import InferenceOptions
from .evaluation.against_reference import evaluate_volumes
from .files.image_files import write_volume
from .models.registry import find_model
from .phantoms.thorax import generate_phantom
from .tasks.catalogue import get_task
from .tasks.run_to_files import run_to_files

DEMO_SEED = 424242  # not a training seed
DEMO_SIZE = (192, 192, 72)
DEMO_SPACING = (2.0, 2.0, 2.0)


def save_preview(labels: np.ndarray, real: np.ndarray, synthetic: np.ndarray, path: Path, title: str) -> None:
    """PNG: axial and coronal views of label map | real CT | synthetic CT | difference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = int(np.argmax((labels > 0).sum(axis=(1, 2))))
    j = int(np.argmax((labels > 0).sum(axis=(0, 2))))
    views = {"axial": lambda a: a[k], "coronal": lambda a: a[:, j, :][::-1]}
    columns = [("label map", labels, dict(cmap="nipy_spectral", vmin=0, vmax=850)),
               ("real CT (phantom)", real, dict(cmap="gray", vmin=-400, vmax=600)),
               ("synthetic CT", synthetic, dict(cmap="gray", vmin=-400, vmax=600)),
               ("synthetic − real (HU)", synthetic - real, dict(cmap="coolwarm", vmin=-300, vmax=300))]
    fig, axes = plt.subplots(2, 4, figsize=(15, 7.5))
    for row, (view_name, take) in enumerate(views.items()):
        for col, (name, array, style) in enumerate(columns):
            ax = axes[row, col]
            shown = ax.imshow(take(array), interpolation="nearest", aspect="equal", **style)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}, {view_name}" if row == 0 else view_name)
            if col >= 2:
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run_demo(output: Path, device: str = "auto", model: str | None = None) -> dict:
    """Write phantom, synthetic CT, preview PNG and metrics into ``output``; return the metrics."""
    output.mkdir(parents=True, exist_ok=True)
    task = get_task("synthesize")
    bundle = find_model(model, task.name)
    phantom = generate_phantom(DEMO_SEED, DEMO_SIZE, DEMO_SPACING)
    write_volume(phantom.labels, output / "labels.nii.gz", overwrite=True)
    write_volume(phantom.ct, output / "real_ct.nii.gz", overwrite=True)
    options = InferenceOptions(device=device, progress=TerminalProgress(f"synthesize ({bundle.name})"))
    synthetic = run_to_files(task, bundle, output / "labels.nii.gz", output / "synthetic_ct.nii.gz", {}, options,
                             overwrite=True).result.volume
    metrics, _ = evaluate_volumes(synthetic, phantom.ct, phantom.body)
    lv = synthetic.array[phantom.labels.array == 500].mean()
    myo = synthetic.array[phantom.labels.array == 205].mean()
    metrics |= {"mean_hu_left_ventricle": float(lv), "mean_hu_myocardium": float(myo), "model": bundle.name,
                "phantom_seed": DEMO_SEED}
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
    save_preview(phantom.labels.array, phantom.ct.array, synthetic.array, output / "preview.png",
                 f"{bundle.name}: phantom seed {DEMO_SEED}, MAE {metrics['mae']:.0f} HU, PSNR {metrics['psnr']:.1f} dB, "
                 f"SSIM {metrics['ssim']:.3f}")
    return metrics

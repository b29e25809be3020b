"""The quick-start demo: a new phantom drawn in the labels the synthesis model takes (whole-body classes or the
seven MM-WHS structures), the model's synthetic CT, previews and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .anatomy.mmwhs_structures import MMWHS_LABELS
from .anatomy.wholebody_classes import CLASS_INDEX, MODEL_VALUE_BASE, takes_whole_body
from .core.label_slices import richest_slice
from .core.progress import TerminalProgress
from .engine.inference import InferenceOptions
from .evaluation.against_reference import evaluate_volumes
from .files.image_files import write_volume
from .models.bundle import ModelBundle
from .models.registry import find_model
from .phantoms.thorax import Phantom, generate_phantom
from .phantoms.wholebody import MODEL_GRID_SIZE, MODEL_GRID_SPACING, WholeBodyPhantom, generate_wholebody_phantom
from .tasks.catalogue import get_task
from .tasks.run_to_files import run_to_files

DEMO_SEED = 424242  # not a training seed
DEMO_SIZE = (192, 192, 72)  # the MM-WHS model's phantom (the whole-body one is on that model's grid)
DEMO_SPACING = (2.0, 2.0, 2.0)


def demo_phantom(bundle: ModelBundle) -> tuple[Phantom | WholeBodyPhantom, dict[str, int]]:
    """The demo's phantom (labels, ct, body) in the labels ``bundle`` takes, and the structures whose mean HU the
    demo reports (name → label value)."""
    if takes_whole_body(bundle.manifest.input.label_set, bundle.manifest.input.labels):
        return (generate_wholebody_phantom(DEMO_SEED, MODEL_GRID_SIZE, MODEL_GRID_SPACING),
                {name: MODEL_VALUE_BASE + CLASS_INDEX[name] for name in ("cardiac blood pool", "myocardium")})
    return (generate_phantom(DEMO_SEED, DEMO_SIZE, DEMO_SPACING),
            {name: MMWHS_LABELS[name] for name in ("left ventricle", "myocardium")})


def save_preview(labels: np.ndarray, real: np.ndarray, synthetic: np.ndarray, path: Path, title: str,
                 coronal_aspect: float = 1.0) -> None:
    """PNG: axial and coronal views of label map | real CT | synthetic CT | difference; ``coronal_aspect``: slice
    spacing over in-plane spacing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the axial and coronal slices showing the most structures; labels shown by rank, one colour each
    k, j = richest_slice(labels, 0), richest_slice(labels, 1)
    values, ranks = np.unique(labels, return_inverse=True)
    labels = ranks.reshape(labels.shape)
    views = {"axial": (lambda a: a[k], 1.0), "coronal": (lambda a: a[:, j, :][::-1], coronal_aspect)}
    columns = [("label map", labels, dict(cmap="nipy_spectral", vmin=0, vmax=max(len(values) - 1, 1))),
               ("real CT (phantom)", real, dict(cmap="gray", vmin=-400, vmax=600)),
               ("synthetic CT", synthetic, dict(cmap="gray", vmin=-400, vmax=600)),
               ("synthetic − real (HU)", synthetic - real, dict(cmap="coolwarm", vmin=-300, vmax=300))]
    fig, axes = plt.subplots(2, 4, figsize=(15, 7.5))
    for row, (view_name, (take, aspect)) in enumerate(views.items()):
        for col, (name, array, style) in enumerate(columns):
            ax = axes[row, col]
            shown = ax.imshow(take(array), interpolation="nearest", aspect=aspect, **style)
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
    phantom, structures = demo_phantom(bundle)
    write_volume(phantom.labels, output / "labels.nii.gz", overwrite=True)
    write_volume(phantom.ct, output / "real_ct.nii.gz", overwrite=True)
    options = InferenceOptions(device=device, progress=TerminalProgress(f"synthesize ({bundle.name})"))
    synthetic = run_to_files(task, bundle, output / "labels.nii.gz", output / "synthetic_ct.nii.gz", {}, options,
                             overwrite=True).result.volume
    metrics, _ = evaluate_volumes(synthetic, phantom.ct, phantom.body)
    mean_hu = {name: {"synthetic": float(synthetic.array[phantom.labels.array == value].mean()),
                      "phantom": float(phantom.ct.array[phantom.labels.array == value].mean())}
               for name, value in structures.items()}
    metrics |= {"mean_hu": mean_hu, "model": bundle.name, "phantom_seed": DEMO_SEED}
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
    save_preview(phantom.labels.array, phantom.ct.array, synthetic.array, output / "preview.png",
                 f"{bundle.name}: phantom seed {DEMO_SEED}, MAE {metrics['mae']:.0f} HU, PSNR {metrics['psnr']:.1f} dB, "
                 f"SSIM {metrics['ssim']:.3f}", phantom.ct.spacing[2] / phantom.ct.spacing[0])
    return metrics

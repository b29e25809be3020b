"""Which model bundles exist: the bundled ones in Resources/Models and the user's model folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .bundle import MANIFEST_NAME, ModelBundle, load_bundle
from .errors import GANSynthesisError

BUNDLED_MODELS_DIR = Path(__file__).resolve().parent.parent / "Resources" / "Models"
USER_MODELS_ENV = "GANSYNTHESIS_MODEL_PATH"  # extra folders, separated by os.pathsep
USER_MODELS_DIR = Path.home() / ".gansynthesis" / "models"


def model_search_dirs(extra_dirs: list[str | Path] | None = None) -> list[Path]:
    """Folders searched for bundles, bundled first, then user folders."""
    dirs = [BUNDLED_MODELS_DIR, USER_MODELS_DIR]
    dirs += [Path(p) for p in os.environ.get(USER_MODELS_ENV, "").split(os.pathsep) if p]
    dirs += [Path(p) for p in extra_dirs or []]
    return dirs


def accepts_modality(bundle: ModelBundle, modality: str | None) -> bool:
    """Whether the bundle takes images of ``modality`` (a DICOM modality such as 'MR'); unknown means yes."""
    if not modality:
        return True
    wanted = bundle.manifest["input"].get("modality")
    return wanted is None or wanted.upper().startswith(modality.upper())


def list_models(task: str | None = None, extra_dirs: list[str | Path] | None = None,
                modality: str | None = None) -> list[ModelBundle]:
    """All valid bundles (optionally of one task and input modality); each task's default model first."""
    found: dict[str, ModelBundle] = {}
    for folder in model_search_dirs(extra_dirs):
        candidates = [folder] if (folder / MANIFEST_NAME).is_file() else sorted(folder.glob(f"*/{MANIFEST_NAME}"))
        for manifest in candidates:
            try:
                bundle = load_bundle(manifest)
            except GANSynthesisError:
                continue  # a broken folder must not hide the others; loading it by name reports why
            if (task is None or bundle.task == task) and accepts_modality(bundle, modality):
                found.setdefault(bundle.name, bundle)
    return sorted(found.values(), key=lambda b: (b.task, not b.manifest.get("default", False), b.name))


def find_model(name_or_path: str | None, task: str, extra_dirs: list[str | Path] | None = None) -> ModelBundle:
    """A bundle by name, by folder path, or the task's default when ``name_or_path`` is None."""
    if name_or_path and (os.sep in name_or_path or Path(name_or_path).exists()):
        bundle = load_bundle(name_or_path)
    else:
        models = list_models(task, extra_dirs)
        if not models:
            raise GANSynthesisError(f"No {task} model is installed; bundled models live in {BUNDLED_MODELS_DIR}.")
        if name_or_path is None:
            return models[0]
        matches = [m for m in models if m.name == name_or_path]
        if not matches:
            names = ", ".join(m.name for m in models)
            raise GANSynthesisError(f"No {task} model named {name_or_path!r}; available: {names}.")
        bundle = matches[0]
    if bundle.task != task:
        raise GANSynthesisError(f"Model {bundle.name} is a {bundle.task} model, not a {task} model.")
    return bundle


def import_model_folder(source: str | Path, destination_root: str | Path = USER_MODELS_DIR) -> ModelBundle:
    """Copy a bundle folder into the user's model folder after checking its manifest and every weight's SHA-256.

    An existing model of the same name is not replaced.
    """
    bundle = load_bundle(source)
    for part in bundle.manifest["weights"]:
        bundle.load_weights(part)  # verifies the hash; refuses tampered or pickled files
    target = Path(destination_root) / bundle.name
    if target.exists():
        raise GANSynthesisError(f"A model named {bundle.name!r} is already installed at {target}; remove it first.")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(bundle.path, target)
    return load_bundle(target)

"""Which model bundles exist: the bundled ones in Resources/Models and the user's model folders."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import GANSynthesisError
from .bundle import MANIFEST_NAME, ModelBundle, load_bundle

BUNDLED_MODELS_DIR = Path(__file__).resolve().parents[2] / "Resources" / "Models"
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
    wanted = bundle.manifest.input.modality
    return wanted is None or wanted.upper().startswith(modality.upper())


@dataclass(frozen=True)
class ModelEntry:
    """A bundle folder found in the search folders: its bundle when usable, else what is wrong with it."""

    path: Path
    bundle: ModelBundle | None
    problem: str | None = None


def survey_models(extra_dirs: list[str | Path] | None = None) -> list[ModelEntry]:
    """Every bundle folder in the search folders, each checked as a whole; a broken one is listed with its
    problem and never hides or breaks the others. A later bundle with a name already taken is listed as a
    problem too."""
    entries: list[ModelEntry] = []
    names: dict[str, Path] = {}
    for folder in model_search_dirs(extra_dirs):
        candidates = [folder] if (folder / MANIFEST_NAME).is_file() else sorted(folder.glob(f"*/{MANIFEST_NAME}"))
        for manifest in candidates:
            try:
                bundle = load_bundle(manifest)
            except GANSynthesisError as error:
                entries.append(ModelEntry(manifest.parent, None, str(error)))
                continue
            if bundle.name in names:
                if names[bundle.name] != bundle.path.resolve():
                    entries.append(ModelEntry(bundle.path, None, f"a model named {bundle.name!r} is already "
                                              f"installed at {names[bundle.name]}; rename this one in its "
                                              f"{MANIFEST_NAME} to use it."))
                continue
            names[bundle.name] = bundle.path.resolve()
            entries.append(ModelEntry(bundle.path, bundle))
    return entries


def default_first(bundle: ModelBundle) -> tuple[bool, str]:
    """Sort key within a task: the model marked default first, then by name."""
    return not bundle.manifest.default, bundle.name


def task_defaults(bundles: list[ModelBundle]) -> dict[str, ModelBundle]:
    """Each task's default among ``bundles``: the one :func:`find_model` takes when no model is named."""
    defaults: dict[str, ModelBundle] = {}
    for bundle in sorted(bundles, key=default_first):
        defaults.setdefault(bundle.task, bundle)
    return defaults


def list_models(task: str | None = None, extra_dirs: list[str | Path] | None = None,
                modality: str | None = None) -> list[ModelBundle]:
    """All usable bundles (optionally of one task and input modality); each task's default model first."""
    found = [entry.bundle for entry in survey_models(extra_dirs) if entry.bundle is not None
             and (task is None or entry.bundle.task == task) and accepts_modality(entry.bundle, modality)]
    return sorted(found, key=lambda b: (b.task, *default_first(b)))


def find_model(name_or_path: str | None, task: str, extra_dirs: list[str | Path] | None = None) -> ModelBundle:
    """A bundle by name, by folder path, or the task's default when ``name_or_path`` is None."""
    if name_or_path and (os.sep in name_or_path or Path(name_or_path).exists()):
        bundle = load_bundle(name_or_path)
    else:
        entries = survey_models(extra_dirs)
        models = sorted((e.bundle for e in entries if e.bundle is not None and e.bundle.task == task),
                        key=default_first)
        if name_or_path is None:
            if not models:
                raise GANSynthesisError(f"No {task} model is installed; bundled models live in {BUNDLED_MODELS_DIR}.")
            return models[0]
        matches = [m for m in models if m.name == name_or_path]
        if not matches:
            broken = [e for e in entries if e.bundle is None and e.path.name == name_or_path]
            if broken:
                raise GANSynthesisError(f"Model {name_or_path!r} cannot be used: {broken[0].problem}")
            names = ", ".join(m.name for m in models) or "none"
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
    for part in bundle.manifest.weights:
        bundle.load_weights(part)  # verifies the hash; refuses tampered or pickled files
    target = Path(destination_root) / bundle.name
    if target.exists():
        raise GANSynthesisError(f"A model named {bundle.name!r} is already installed at {target}; remove it first.")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(bundle.path, target)
    return load_bundle(target)

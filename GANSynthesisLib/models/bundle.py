"""Model bundles: a folder with ``model.json`` (manifest) and ``*.safetensors`` weights, checked by SHA-256.

Weights are only ever read from safetensors files; pickle-based checkpoints are refused.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..core.errors import GANSynthesisError
from .bundle_checks import check_weights_fit, safetensors_shapes
from .manifest import MANIFEST_FORMAT, Manifest, WeightFile

if TYPE_CHECKING:  # torch/safetensors load with weights; the Slicer panel lists models before they are installed
    import torch

MANIFEST_NAME = "model.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")


def refuse_pickle(path: Path) -> None:
    """Raise a clear error for a pickle-based checkpoint file."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise GANSynthesisError(
            f"{path.name} is a pickle-based checkpoint ({path.suffix}); GANSynthesis never unpickles weights because "
            "loading a pickle can run arbitrary code. Convert it to .safetensors (GANSynthesisTraining.bundles.writer does) and "
            "list it with its SHA-256 in model.json."
        )


def sha256_of(path: Path) -> str:
    """Hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelBundle:
    """A model folder and its parsed manifest."""

    path: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def title(self) -> str:
        return self.manifest.display_title

    def load_weights(self, part: str) -> dict[str, torch.Tensor]:
        """The state dict of one network (e.g. 'generator'), after checking its SHA-256."""
        entries = self.manifest.weights
        if part not in entries:
            raise GANSynthesisError(f"Model {self.name} has no {part!r} weights; it has {', '.join(entries)}.")
        path = checked_weight_file(self.path, self.name, entries[part], sha256_of)  # hashed afresh just before use
        from safetensors.torch import load_file

        return load_file(str(path))


def checked_weight_file(folder: Path, model_name: str, entry: WeightFile, digest: Callable[[Path], str]) -> Path:
    """The weight file of a manifest ``entry``: refused unless it is a present .safetensors file whose SHA-256
    (computed by ``digest``) is the one the entry states."""
    path = folder / entry.file
    refuse_pickle(path)
    if path.suffix != ".safetensors":
        raise GANSynthesisError(f"Weight file {path.name} of model {model_name} is not a .safetensors file.")
    if not path.is_file():
        raise GANSynthesisError(f"Weight file {path} of model {model_name} is missing; reinstall or re-export the "
                                "model.")
    actual = digest(path)
    if actual != entry.sha256.lower():
        raise GANSynthesisError(
            f"Weight file {path} does not match its SHA-256 in {MANIFEST_NAME} (expected {entry.sha256[:12]}…, "
            f"found {actual[:12]}…): the file is corrupt or was modified. Reinstall the model bundle."
        )
    return path


def _cached_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered for as long as its size and modification time stay the same."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_of(path)
    return _DIGESTS[key]


_DIGESTS: dict[tuple[str, int, int], str] = {}


def _read_manifest(manifest_path: Path) -> Any:
    try:
        return json.loads(manifest_path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise GANSynthesisError(f"{manifest_path} is not UTF-8 text; save it as UTF-8.") from error
    except json.JSONDecodeError as error:
        raise GANSynthesisError(f"{manifest_path} is not valid JSON: {error}") from error
    except OSError as error:
        raise GANSynthesisError(f"Cannot read {manifest_path}: {error.strerror}.") from error


def load_bundle(path: str | Path) -> ModelBundle:
    """Read a bundle folder (or its model.json) checked as a whole: the manifest's entries and their types, every
    weight file present, a complete safetensors file (never a pickle) with the SHA-256 the manifest states, and,
    where torch is installed, the architecture buildable and matching the weights. Any problem raises a
    GANSynthesisError that says what is wrong and how to fix it."""
    path = Path(path)
    refuse_pickle(path)
    if path.is_file() and path.name == MANIFEST_NAME:
        path = path.parent
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise GANSynthesisError(f"{path} is not a model bundle: it has no {MANIFEST_NAME}.")
    manifest = Manifest.from_dict(_read_manifest(manifest_path), manifest_path)
    shapes = {}
    for part, entry in manifest.weights.items():
        file = checked_weight_file(path, manifest.name, entry, _cached_sha256)
        shapes[part] = safetensors_shapes(file)
    if importlib.util.find_spec("torch") is not None:  # the Slicer panel lists models before torch is installed
        check_weights_fit(manifest.name, manifest.architecture, shapes)
    return ModelBundle(path=path, manifest=manifest)


def save_bundle(folder: str | Path, manifest: Manifest, state_dicts: Mapping[str, Mapping[str, torch.Tensor]],
                dtype: torch.dtype | None = None) -> ModelBundle:
    """Write weights as safetensors (floating tensors cast to ``dtype``, default float16) and the manifest with
    their SHA-256; returns the bundle as loaded back."""
    import torch
    from safetensors.torch import save_file

    dtype = torch.float16 if dtype is None else dtype
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {}
    for part, state in state_dicts.items():
        tensors = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous().cpu() for k, v in state.items()}
        file = folder / f"{part}.safetensors"
        save_file(tensors, str(file))
        weights[part] = WeightFile(file.name, sha256_of(file), str(dtype).replace("torch.", ""))
    saved = replace(manifest, weights=weights, format_version=MANIFEST_FORMAT)
    (folder / MANIFEST_NAME).write_text(json.dumps(saved.to_dict(), indent=2) + "\n")
    return load_bundle(folder)

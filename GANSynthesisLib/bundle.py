"""Model bundles: a folder with ``model.json`` (manifest) and ``*.safetensors`` weights, checked by SHA-256.

Weights are only ever read from safetensors files; pickle-based checkpoints are refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .errors import GANSynthesisError

if TYPE_CHECKING:  # torch/safetensors load with weights; the Slicer panel lists models before they are installed
    import torch

MANIFEST_NAME = "model.json"
MANIFEST_FORMAT = 1
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")
REQUIRED_KEYS = ("name", "version", "task", "architecture", "weights", "input", "output", "grid", "intended_use",
                 "license")
INTENDED_USE = "research, not for diagnosis"


def refuse_pickle(path: Path) -> None:
    """Raise a clear error for a pickle-based checkpoint file."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise GANSynthesisError(
            f"{path.name} is a pickle-based checkpoint ({path.suffix}); GANSynthesis never unpickles weights because "
            "loading a pickle can run arbitrary code. Convert it to .safetensors (training/export.py does) and "
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
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def task(self) -> str:
        return self.manifest["task"]

    @property
    def title(self) -> str:
        return self.manifest.get("title", self.name)

    def load_weights(self, part: str) -> dict[str, torch.Tensor]:
        """The state dict of one network (e.g. 'generator'), after checking its SHA-256."""
        entries = self.manifest["weights"]
        if part not in entries:
            raise GANSynthesisError(f"Model {self.name} has no {part!r} weights; it has {', '.join(entries)}.")
        entry = entries[part]
        path = self.path / entry["file"]
        refuse_pickle(path)
        if path.suffix != ".safetensors":
            raise GANSynthesisError(f"Weight file {path.name} of model {self.name} is not a .safetensors file.")
        if not path.is_file():
            raise GANSynthesisError(f"Weight file {path} of model {self.name} is missing; reinstall or re-export the model.")
        actual = sha256_of(path)
        if actual != entry["sha256"]:
            raise GANSynthesisError(
                f"Weight file {path} does not match its SHA-256 in {MANIFEST_NAME} (expected {entry['sha256'][:12]}…, "
                f"found {actual[:12]}…): the file is corrupt or was modified. Reinstall the model bundle."
            )
        from safetensors.torch import load_file

        return load_file(str(path))


def load_bundle(path: str | Path) -> ModelBundle:
    """Read and validate a bundle folder (or its model.json)."""
    path = Path(path)
    refuse_pickle(path)
    if path.is_file() and path.name == MANIFEST_NAME:
        path = path.parent
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise GANSynthesisError(f"{path} is not a model bundle: it has no {MANIFEST_NAME}.")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise GANSynthesisError(f"{manifest_path} is not valid JSON: {error}") from error
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise GANSynthesisError(f"{manifest_path} lacks required entries: {', '.join(missing)}.")
    for part, entry in manifest["weights"].items():
        refuse_pickle(Path(entry.get("file", "")))
        if "sha256" not in entry:
            raise GANSynthesisError(f"{manifest_path}: weights {part!r} has no sha256; every weight file needs one.")
    return ModelBundle(path=path, manifest=manifest)


def save_bundle(folder: str | Path, manifest: Mapping[str, Any], state_dicts: Mapping[str, Mapping[str, torch.Tensor]],
                dtype: torch.dtype | None = None) -> ModelBundle:
    """Write weights as safetensors (floating tensors cast to ``dtype``, default float16) and a manifest with their
    SHA-256."""
    import torch
    from safetensors.torch import save_file

    dtype = torch.float16 if dtype is None else dtype
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(json.dumps(manifest))
    manifest["format_version"] = MANIFEST_FORMAT
    manifest.setdefault("intended_use", INTENDED_USE)
    manifest["weights"] = {}
    for part, state in state_dicts.items():
        tensors = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous().cpu() for k, v in state.items()}
        file = folder / f"{part}.safetensors"
        save_file(tensors, str(file))
        manifest["weights"][part] = {"file": file.name, "sha256": sha256_of(file), "dtype": str(dtype).replace("torch.", "")}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return load_bundle(folder)

"""A model bundle checked as a whole before it is used or listed as usable: the manifest's entries and their
types, and each weight file (a complete safetensors file, never a pickle, hashed as the manifest says)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from ..core.errors import GANSynthesisError

_PICKLE_OR_ZIP = (b"\x80", b"PK\x03\x04")  # a pickle's protocol opcode; torch.save's zip archive
_REINSTALL = "Reinstall or re-export the model bundle."


def _require(condition: bool, where: Path, problem: str) -> None:
    if not condition:
        raise GANSynthesisError(f"{where}: {problem}. Fix {where.name} or re-export the bundle.")


def _positive_numbers(value: Any, count: int) -> bool:
    return (isinstance(value, list) and len(value) == count
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                    for v in value))


def check_manifest(manifest: Any, where: Path, required: tuple[str, ...]) -> None:
    """Refuse a manifest whose entries are missing or of the wrong type, naming the entry."""
    _require(isinstance(manifest, dict), where, f"the manifest is {type(manifest).__name__}, not a JSON object")
    missing = [key for key in required if key not in manifest]
    _require(not missing, where, f"required entries are missing: {', '.join(missing)}")
    for key in ("name", "version", "task", "intended_use", "license"):
        _require(isinstance(manifest[key], str) and manifest[key].strip() != "", where, f"{key!r} must be a text")
    for key in ("architecture", "weights", "input", "output", "grid"):
        _require(isinstance(manifest[key], dict), where, f"{key!r} must be a JSON object, not "
                                                         f"{type(manifest[key]).__name__}")
    _require(bool(manifest["weights"]), where, "'weights' lists no weight file")
    for part, entry in manifest["weights"].items():
        _require(isinstance(entry, dict) and isinstance(entry.get("file"), str)
                 and isinstance(entry.get("sha256"), str), where,
                 f"weights {part!r} must be an object with a 'file' name and its 'sha256'")
        _require(len(entry["sha256"]) == 64 and all(c in "0123456789abcdef" for c in entry["sha256"].lower()), where,
                 f"weights {part!r} has no valid sha256 (64 hex digits); every weight file needs one")
        _require(Path(entry["file"]).name == entry["file"], where,
                 f"weights {part!r} names {entry['file']!r}; a weight file must lie in the bundle folder itself")
    for part, spec in manifest["architecture"].items():
        _require(isinstance(spec, dict) and isinstance(spec.get("type"), str), where,
                 f"architecture {part!r} must be an object with a 'type'")
    grid = manifest["grid"]
    if "in_plane_spacing_mm" in grid:
        _require(_positive_numbers(grid["in_plane_spacing_mm"], 2), where,
                 f"grid in_plane_spacing_mm {grid['in_plane_spacing_mm']!r} must be two positive numbers")
    if "in_plane_size" in grid:
        _require(_positive_numbers(grid["in_plane_size"], 2), where,
                 f"grid in_plane_size {grid['in_plane_size']!r} must be two positive numbers")
    labels = manifest["input"].get("labels")
    if labels is not None:
        _require(isinstance(labels, dict) and all(isinstance(v, int) and not isinstance(v, bool)
                                                  for v in labels.values()), where,
                 "input labels must map names to integer label values")
    for side in ("input", "output"):
        for key in ("modality", "units", "kind"):
            value = manifest[side].get(key)
            _require(value is None or isinstance(value, str), where, f"{side} {key} must be a text")
        normalisation = manifest[side].get("normalisation")
        _require(normalisation is None or isinstance(normalisation, dict), where,
                 f"{side} normalisation must be a JSON object")
    if manifest["task"] == "anomaly":
        _require(isinstance(manifest.get("anomaly"), dict), where, "an anomaly model needs an 'anomaly' object")


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape of a complete safetensors file; a pickle, a torch zip archive, a truncated or
    otherwise malformed file is refused (nothing is unpickled)."""
    try:
        with open(path, "rb") as stream:
            start = stream.read(8)
            size = path.stat().st_size
            header_size = struct.unpack("<Q", start)[0] if len(start) == 8 else 0
            if not 2 <= header_size <= size - 8:
                if any(start.startswith(magic) for magic in _PICKLE_OR_ZIP):
                    raise GANSynthesisError(
                        f"{path} is a pickle or torch.save archive, not safetensors; GANSynthesis never unpickles "
                        "weights because loading a pickle can run arbitrary code. Convert it with training/export.py.")
                raise ValueError("no safetensors header")
            header = json.loads(stream.read(header_size))
    except GANSynthesisError:
        raise
    except OSError as error:
        raise GANSynthesisError(f"Cannot read weight file {path}: {error.strerror}. {_REINSTALL}") from error
    except (ValueError, UnicodeDecodeError) as error:  # json.JSONDecodeError is a ValueError
        raise GANSynthesisError(f"{path} is not a valid safetensors file ({error}). {_REINSTALL}") from error
    tensors = {k: v for k, v in header.items() if k != "__metadata__"} if isinstance(header, dict) else None
    try:
        end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
        shapes = {name: tuple(int(n) for n in v["shape"]) for name, v in tensors.items()}
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as error:
        raise GANSynthesisError(f"{path} has a malformed safetensors header. {_REINSTALL}") from error
    if 8 + header_size + end != size:
        raise GANSynthesisError(f"{path} is truncated or padded: its header describes {8 + header_size + end} bytes, "
                                f"the file has {size}. {_REINSTALL}")
    return shapes


def check_weights_fit(model_name: str, architecture: dict[str, dict],
                      shapes: dict[str, dict[str, tuple[int, ...]]]) -> None:
    """Refuse a bundle (``model_name``, its manifest's ``architecture``) whose networks cannot be built from their
    manifest arguments or whose weights (tensor name → shape, per part) do not fit them; builds on the meta device,
    so nothing is allocated."""
    import torch

    from .networks import build_network

    for part, tensors in shapes.items():
        if part not in architecture:
            raise GANSynthesisError(f"Model {model_name} has {part!r} weights but no architecture for them; fix "
                                    "model.json or re-export the bundle.")
        with torch.device("meta"):
            expected = {name: tuple(t.shape) for name, t in build_network(architecture[part]).state_dict().items()}
        if expected != tensors:
            wrong = sorted(set(expected) ^ set(tensors)) or sorted(n for n in expected if expected[n] != tensors[n])
            raise GANSynthesisError(f"The {part!r} weights of model {model_name} do not fit its architecture "
                                    f"({len(wrong)} tensors missing, extra or of another shape, e.g. {wrong[0]}); "
                                    "the weights belong to another network. Re-export the bundle.")

"""A bundle's weight files checked before use: each a complete safetensors file (never a pickle) whose tensors fit
the networks its manifest describes (the manifest itself is checked by :mod:`.manifest`)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from ..core.errors import GANSynthesisError

_PICKLE_OR_ZIP = (b"\x80", b"PK\x03\x04")  # a pickle's protocol opcode; torch.save's zip archive
_REINSTALL = "Reinstall or re-export the model bundle."


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
                        "weights because loading a pickle can run arbitrary code. Convert it with GANSynthesisTraining.bundles.writer.")
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

"""Choice of compute device: auto (CUDA if present, else CPU), or forced. Importing this module needs no torch (the
Slicer panel lists the choices before torch is installed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import GANSynthesisError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str = "auto") -> "torch.device":
    """The torch device for a user's choice; 'cuda' without a usable GPU is a clear error."""
    import torch

    if choice not in DEVICE_CHOICES:
        raise GANSynthesisError(f"Unknown device {choice!r}; use one of {', '.join(DEVICE_CHOICES)}.")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise GANSynthesisError("A GPU (cuda) was requested but PyTorch sees none here; use device 'auto' or 'cpu'.")
    return torch.device("cuda")


def describe_device(device: "torch.device") -> str:
    """The device a run uses, in words, e.g. 'GPU 0: NVIDIA H100 (79.1 GiB)' or 'CPU: 8 threads'."""
    import torch

    if device.type == "cuda":
        index = device.index or 0
        props = torch.cuda.get_device_properties(index)
        return f"GPU {index}: {props.name} ({props.total_memory / 2**30:.1f} GiB)"
    return f"CPU: {torch.get_num_threads()} threads"


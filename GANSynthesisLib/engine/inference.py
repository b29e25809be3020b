"""Whole-volume inference for 2-D slice models: any geometry in, the same geometry out.

The volume is viewed axially (see :mod:`orientation`), its slices are resampled in-plane to the
model's spacing (covering exactly the same field of view), padded to the network's size multiple,
run in batches (bf16 autocast and channels_last on GPU), and resampled back. Memory stays bounded:
only ``batch_size`` slices are on the device at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from ..core.devices import resolve_device
from ..core.errors import CancelledError, GANSynthesisError
from ..core.orientation import axial_view
from ..core.slabs import copy_in_slabs
from ..core.volume import Volume

ProgressCallback = Callable[[float, str], None]
ENCODE_CHUNK = 1  # full-resolution slices encoded at once on the CPU (cache-sized work)


@dataclass
class InferenceOptions:
    """How to run: device ('auto', 'cpu', 'cuda'), slices per batch, progress and cancel hooks."""

    device: str = "auto"
    batch_size: int | None = None  # slices per network batch; None: 8 on CPU, 64 on GPU
    progress: ProgressCallback | None = None
    cancel: Callable[[], bool] | None = None
    threads: int | None = None


@dataclass
class SliceNetwork:
    """A network that runs on axial slices: its in-plane pixel size (row, column, mm) and the multiple its input
    sides must have; translators add how they encode and decode slices (see :class:`SliceTranslator`)."""

    network: torch.nn.Module
    in_plane_spacing: tuple[float, float]
    size_multiple: int


class SliceTranslator(Protocol):
    """What the engine needs from a task: the network, its grid and how to encode and decode slices."""

    network: torch.nn.Module
    in_plane_spacing: tuple[float, float]  # (row, column) mm
    size_multiple: int

    def encode(self, slices: np.ndarray, device: torch.device) -> torch.Tensor:
        """(B, H, W) input slices → (B, C, H, W) float network input on ``device``."""

    def pad_values(self) -> torch.Tensor:
        """(C,) values of the network input outside the field of view (e.g. air, background label)."""

    def decode(self, output: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) network output → (B, H, W) float32 values in output units, or (B, C', H, W) for a
        model with several output maps."""


MAX_MODEL_GRID = 16384  # pixels along one side of a slice at the model's spacing; beyond it the spacing is absurd
MIN_MODEL_GRID = 1e-3  # a slice narrower than this share of one model pixel has an absurd spacing


def model_grid_size(size: int, spacing: float, model_spacing: float) -> int:
    """Pixels covering the same extent at (about) the model's spacing; refused when the spacing makes that absurdly
    many or a slice far narrower than one pixel."""
    pixels = size * spacing / model_spacing
    if not MIN_MODEL_GRID <= pixels <= MAX_MODEL_GRID:
        raise GANSynthesisError(
            f"A slice {size} voxels of {spacing:g} mm is {size * spacing:g} mm wide, {pixels:.3g} pixels at the "
            f"model's {model_spacing:g} mm spacing (usable: {MIN_MODEL_GRID:g} to {MAX_MODEL_GRID}); the voxel "
            "spacing in the image header is wrong. Fix it (spacing is in millimetres).")
    return max(1, int(round(pixels)))


def pad_to_multiple(x: torch.Tensor, multiple: int, values: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    top, left = ph // 2, pw // 2
    if ph == 0 and pw == 0:
        return x, (0, 0, h, w)
    padded = values.to(x.dtype).view(1, -1, 1, 1).expand(x.shape[0], -1, h + ph, w + pw).clone()
    padded[:, :, top:top + h, left:left + w] = x
    return padded, (top, left, h, w)


def host_to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a host tensor to ``device``; to a GPU through pinned memory, without blocking the host."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


@dataclass
class _InFlight:
    """A batch whose result is on its way to host memory."""

    start: int
    stop: int
    values: torch.Tensor
    ready: "torch.cuda.Event | None"


def _launch_batch(translator: SliceTranslator, network: torch.nn.Module, slices: np.ndarray, grid: tuple[int, int],
                  pad: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, "torch.cuda.Event | None"]:
    """Encode, resample, pad, run, crop, resample back and decode one batch; on a GPU the copy back to
    (pinned) host memory is only queued, and an event says when it has landed."""
    rows, cols = slices.shape[1:]
    gpu = device.type == "cuda"
    # Full-resolution slices are encoded and resampled a few at a time (memory-bound work stays in cache);
    # the network then runs on the whole batch at the model grid.
    step = slices.shape[0] if gpu else ENCODE_CHUNK
    with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=gpu):
        parts = []
        for first in range(0, slices.shape[0], step):
            x = translator.encode(np.ascontiguousarray(slices[first:first + step]), device)
            if (rows, cols) != grid:
                x = F.interpolate(x, size=grid, mode="bilinear", align_corners=False, antialias=True)
            parts.append(x)
        x, (top, left, h, w) = pad_to_multiple(torch.cat(parts), translator.size_multiple, pad)
        if gpu:
            x = x.contiguous(memory_format=torch.channels_last)
        y = network(x)[:, :, top:top + h, left:left + w].float()
        if (rows, cols) != grid:
            y = torch.cat([F.interpolate(part, size=(rows, cols), mode="bilinear", align_corners=False)
                           for part in y.split(step)])
        values = translator.decode(y)
        if not gpu:
            return values, None
        host = torch.empty(values.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(values, non_blocking=True)
        ready = torch.cuda.Event()
        ready.record()
        return host, ready


def run_translator(translator: SliceTranslator, volume: Volume, options: InferenceOptions | None = None) -> Volume:
    """Apply a one-output slice model to every axial slice of ``volume``; float32 result on the same grid."""
    return volume.with_array(run_slice_model(translator, volume, options)[0])


def run_slice_model(translator: SliceTranslator, volume: Volume, options: InferenceOptions | None = None
                    ) -> list[np.ndarray]:
    """Apply a slice model to every axial slice of ``volume``: one float32 array on the volume's grid per output map.

    On a GPU one batch is in flight while the next is prepared, and a batch that does not fit in GPU memory
    is retried with half as many slices.
    """
    options = options or InferenceOptions()
    device = resolve_device(options.device)
    if device.type == "cpu":
        torch.set_num_threads(options.threads or os.cpu_count() or 1)
    view = axial_view(volume)
    source = view.forward(volume.array)
    depth, rows, cols = source.shape
    grid = (model_grid_size(rows, view.spacing_kji[1], translator.in_plane_spacing[0]),
            model_grid_size(cols, view.spacing_kji[2], translator.in_plane_spacing[1]))
    network = translator.network.to(device).eval()
    if device.type == "cuda":
        network = network.to(memory_format=torch.channels_last)
    pad = translator.pad_values().to(device)
    result: np.ndarray | None = None  # (depth, rows, cols) or (depth, maps, rows, cols), made by the first batch

    def finish(batch: _InFlight) -> None:
        nonlocal result
        if batch.ready is not None:
            batch.ready.synchronize()
        if result is None:
            result = np.empty((depth, *batch.values.shape[1:]), np.float32)
        copy_in_slabs(result[batch.start:batch.stop], batch.values.numpy())
        if options.progress:
            options.progress(batch.stop / depth, f"slice {batch.stop}/{depth}")

    pending: _InFlight | None = None
    start = 0
    batch_size = max(1, options.batch_size or (64 if device.type == "cuda" else 8))
    if options.progress:  # the bar shows at once, not only when the first batch is done
        options.progress(0.0, f"slice 0/{depth} on {device.type}")
    while start < depth:
        if options.cancel and options.cancel():
            raise CancelledError()
        stop = min(depth, start + batch_size)
        try:
            values, ready = _launch_batch(translator, network, source[start:stop], grid, pad, device)
        except torch.cuda.OutOfMemoryError as error:
            if batch_size == 1:
                raise GANSynthesisError("The GPU ran out of memory even for one slice at a time; run on the CPU "
                                        "(device 'cpu').") from error
            torch.cuda.empty_cache()
            batch_size = max(1, batch_size // 2)
            continue
        if pending is not None:
            finish(pending)
        pending = _InFlight(start, stop, values, ready)
        start = stop
    if pending is not None:
        finish(pending)
    maps = [result] if result.ndim == 3 else [result[:, index] for index in range(result.shape[1])]
    return [np.ascontiguousarray(view.backward(values)) for values in maps]

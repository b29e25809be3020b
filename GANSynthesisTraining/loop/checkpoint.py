"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CHECKPOINT_TENSORS = "checkpoint.safetensors"
CHECKPOINT_STATE = "checkpoint.json"


def _flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{prefix}.state.{index}.{key}"] = value.detach().contiguous().cpu()
    meta[prefix] = state["param_groups"]


def _restore_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + ".state."):
            index, key = name[len(prefix) + 7:].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta[prefix]})
    _lay_out_like_parameters(optimizer)


def _lay_out_like_parameters(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor its parameter's strides (checkpoints hold them contiguous, a
    channels_last network's parameters are not, and fused CUDA Adam refuses the mix)."""
    for parameter, values in optimizer.state.items():
        for key, value in values.items():
            if torch.is_tensor(value) and value.shape == parameter.shape and value.stride() != parameter.stride():
                values[key] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)


def save_checkpoint(run_dir: Path, step: int, networks: dict[str, torch.nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer], extra: dict | None = None) -> None:
    """Write networks, optimizer states and the step; replaces the previous checkpoint atomically."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict = {"step": step, "extra": extra or {}, "optimizers": {}}
    for name, network in networks.items():
        for key, value in network.state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().contiguous().cpu()
    for name, optimizer in optimizers.items():
        _flatten_optimizer(name, optimizer, tensors, meta["optimizers"])
    tmp_tensors, tmp_state = run_dir / (CHECKPOINT_TENSORS + ".tmp"), run_dir / (CHECKPOINT_STATE + ".tmp")
    save_file(tensors, str(tmp_tensors))
    tmp_state.write_text(json.dumps(meta))
    os.replace(tmp_tensors, run_dir / CHECKPOINT_TENSORS)
    os.replace(tmp_state, run_dir / CHECKPOINT_STATE)


def has_checkpoint(run_dir: Path) -> bool:
    """Whether the run folder holds a complete checkpoint."""
    return (run_dir / CHECKPOINT_TENSORS).exists() and (run_dir / CHECKPOINT_STATE).exists()


def load_checkpoint(run_dir: Path, networks: dict[str, torch.nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer]) -> dict:
    """Restore networks and optimizers in place; returns the saved metadata (step, extra, and ``restored``:
    the names of the networks found in the checkpoint; others keep their weights)."""
    tensors = load_file(str(run_dir / CHECKPOINT_TENSORS))
    meta = json.loads((run_dir / CHECKPOINT_STATE).read_text())
    meta["restored"] = []
    for name, network in networks.items():
        prefix = name + "."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if state:
            network.load_state_dict(state)
            meta["restored"].append(name)
    for name, optimizer in optimizers.items():
        _restore_optimizer(name, optimizer, tensors, meta["optimizers"])
    return meta

"""Many GPUs (or CPU processes) under ``torchrun``: process group, DDP wrapping, rank-0 duties, replica check.

Started without torchrun everything here is a no-op: one process, rank 0.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def world_size() -> int:
    """How many processes train together (1 without torchrun)."""
    return dist.get_world_size() if dist.is_initialized() else int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank (0 without torchrun)."""
    return dist.get_rank() if dist.is_initialized() else 0


def setup(device: str) -> torch.device:
    """Join the torchrun process group (NCCL on GPUs, gloo on CPU) and return this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device(device)


def parallel(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The module wrapped in DistributedDataParallel when there are several processes, else itself."""
    if world_size() == 1:
        return module
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def mean_across_processes(values: torch.Tensor) -> torch.Tensor:
    """The average of ``values`` over all processes (itself when alone)."""
    if world_size() > 1:
        values = values.clone()
        dist.all_reduce(values)
        values /= world_size()
    return values


def barrier() -> None:
    """Wait for every process (nothing to wait for when alone)."""
    if world_size() > 1:
        dist.barrier()


def broadcast_buffers(modules: dict[str, torch.nn.Module]) -> None:
    """Give every replica rank 0's buffers (batch-norm running statistics drift apart between syncs)."""
    if world_size() > 1:
        for module in modules.values():
            for buffer in module.buffers():
                dist.broadcast(buffer.data, 0)


def replica_difference(modules: dict[str, torch.nn.Module], buffers: bool = True) -> float:
    """Largest difference of any weight (and buffer) between the processes' replicas (0 when alone)."""
    if world_size() == 1:
        return 0.0
    flat = torch.cat([t.detach().double().flatten().cpu() for m in modules.values()
                      for t in list(m.parameters()) + (list(m.buffers()) if buffers else [])])
    if dist.get_backend() == "nccl":
        flat = flat.cuda()
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, dist.ReduceOp.MAX)
    dist.all_reduce(low, dist.ReduceOp.MIN)
    return float((high - low).abs().max())


def cleanup() -> None:
    """Leave the process group together (a process tearing down while another still talks can abort gloo)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()

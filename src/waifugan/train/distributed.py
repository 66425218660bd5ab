"""The only module that touches torch.distributed: setup, rank info, gradient averaging.

Launch several processes with `torchrun --nproc_per_node N -m waifugan train ...`; torchrun
sets RANK / WORLD_SIZE / LOCAL_RANK and each process trains on its share of the batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and logs."""
        return self.rank == 0


def init_from_env(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun; single-process otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def average_gradients(module: torch.nn.Module, info: DistInfo) -> None:
    """Average the gradients of module's parameters over all ranks (one flat all-reduce)."""
    if info.world_size <= 1:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params if p.grad is not None])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p in params:
        assert p.grad is not None
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p))
        offset += n


def average_scalar(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (for logged statistics)."""
    if info.world_size > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= info.world_size
    return value


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if info.world_size <= 1:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def broadcast_str(value: str | None, info: DistInfo) -> str:
    """Rank 0's string on every rank (e.g. the run directory rank 0 created)."""
    if info.world_size <= 1:
        assert value is not None
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    assert box[0] is not None
    return box[0]

"""Several processes (``torchrun``): who am I, the process group, and the collectives used.

``torchrun --nproc_per_node W -m mnad_lite train ...`` starts W processes and sets
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; :func:`detect` reads them (or an already
initialised process group). Training then runs data-parallel (see
:mod:`mnad_lite.engine.train`): every rank takes ``batch_size`` clips per step, so the
global batch is ``world_size x batch_size``; gradients are averaged by
DistributedDataParallel; the memory items follow :func:`all_gather_rows` (every rank
updates with every rank's queries, see :class:`mnad_lite.memory.Memory`); only rank 0
writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from mnad_lite.errors import ConfigError


@dataclass(frozen=True)
class Dist:
    """This process's place: ``world_size`` processes, this one is ``rank`` (0 writes)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    owns_group: bool = False  # True when :func:`init` created the process group

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from None


def detect() -> Dist:
    """One process, an initialised process group, or torchrun's environment (not yet joined)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        local = _env_int("LOCAL_RANK", dist.get_rank())
        return Dist(dist.get_world_size(), dist.get_rank(), local)
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return Dist()
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch has no torch.distributed")
    return Dist(world, _env_int("RANK", 0), _env_int("LOCAL_RANK", 0))


def init(d: Dist, device: torch.device) -> Dist:
    """Join the process group (gloo on the CPU, NCCL on CUDA) unless already joined."""
    dist = torch.distributed
    if not d.active or dist.is_initialized():
        return d
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"several processes train on cpu or cuda, not {device.type}")
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        init_method="env://",
        world_size=d.world_size,
        rank=d.rank,
    )
    return Dist(d.world_size, d.rank, d.local_rank, owns_group=True)


def close(d: Dist) -> None:
    """Leave the process group if :func:`init` created it."""
    if d.owns_group and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def all_gather_rows(x: Tensor) -> Tensor:
    """Every rank's ``x`` ``[N, C]`` (same N on every rank), concatenated in rank order:
    ``[W*N, C]``. Detached: nothing here carries a gradient."""
    x = x.detach().contiguous()
    parts = [torch.empty_like(x) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(parts, x)
    return torch.cat(parts)


def mean_over_ranks(x: Tensor) -> Tensor:
    """The mean over ranks of ``x`` (any shape), the same on every rank."""
    x = x.detach().clone()
    torch.distributed.all_reduce(x)
    return x / torch.distributed.get_world_size()


def sum_over_ranks(x: Tensor) -> Tensor:
    """The sum over ranks of ``x`` (any shape), the same on every rank."""
    x = x.detach().clone()
    torch.distributed.all_reduce(x)
    return x


def from_main(obj: Any) -> Any:
    """Rank 0's ``obj`` (any picklable object) on every rank."""
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    torch.distributed.barrier()


def share_buffers(module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (memory items, BatchNorm statistics) to every rank, once."""
    for buffer in module.buffers():
        torch.distributed.broadcast(buffer.data, src=0)

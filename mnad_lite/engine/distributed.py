"""Several processes (``torchrun``): the process group, and the collectives used.

``torchrun --nproc_per_node W -m mnad_lite train ...`` starts W processes and sets
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; :func:`detect_processes` reads them (or an
already initialised process group) into a :class:`~mnad_lite.engine.runtime.Dist`.
Training with W processes (:func:`mnad_lite.engine.train.train`, :func:`data_parallel`):

- Batch: every rank takes ``batch_size`` clips per step, so the global batch is
  ``W x batch_size`` (the learning rate is not rescaled). A ``DistributedSampler``
  seeded with ``seed`` and the epoch shards the clips (``drop_last``: equal batches on
  every rank), so a resumed run sees the same order.
- Loss and gradients: every term of Eq. 8 is a mean over equally many elements per
  rank, so the mean over ranks of the per-rank terms (what is logged, via
  ``all_reduce``) and of their gradients (DDP) equals the term on the global batch.
- Memory items: every rank updates them with all ranks' queries (``all_gather``, rank
  order), so they stay identical and equal a single process's on the concatenated
  batch (:class:`mnad_lite.memory.Memory`); DDP's buffer broadcast is off.
- BatchNorm: each rank normalises with its own batch's statistics and keeps its own
  running statistics (no SyncBatchNorm); rank 0's are saved. This is the one way a
  W-process run differs from one process on the global batch.
- Files: rank 0 alone writes the run folder; every rank reads ``last.pt`` to resume;
  validation (and model selection) runs on rank 0 and its log entry goes to all.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, DistributedSampler

from mnad_lite.engine.config import Config
from mnad_lite.engine.runtime import Dist
from mnad_lite.errors import ConfigError, DataError


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from None


def detect_processes() -> Dist:
    """An initialised process group, torchrun's environment (``WORLD_SIZE``, ``RANK``,
    ``LOCAL_RANK``; not yet joined) or one process. A bad variable raises a ConfigError."""
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


def processes(config: Config) -> tuple[Config, Dist]:
    """The processes torchrun started (:func:`detect_processes`) and ``config`` with their
    number; a one-line ConfigError when ``world_size`` asks for other processes."""
    d = detect_processes()
    if config.world_size > 1 and not d.active:
        raise ConfigError(
            f"world_size={config.world_size} needs torchrun: "
            f"torchrun --nproc_per_node {config.world_size} -m mnad_lite train ..."
        )
    if config.world_size not in (1, d.world_size):
        raise ConfigError(
            f"world_size={config.world_size} but torchrun started {d.world_size} processes"
        )
    return replace(config, world_size=d.world_size), d


def shard(clips: Dataset, d: Dist, config: Config, root: Any) -> DistributedSampler:
    """This rank's share of the training clips, reshuffled by (seed, epoch): equal shards,
    whole batches only, as the memory's all_gather needs; a one-line DataError when the
    clips give no process a full batch."""
    sampler = DistributedSampler(
        clips, d.world_size, d.rank, shuffle=True, seed=config.seed, drop_last=True
    )
    if len(sampler) < config.batch_size:
        raise DataError(
            f"{root}: {len(clips)} training clips give none of the "
            f"{d.world_size} processes a full batch of {config.batch_size}"
        )
    return sampler


def init(d: Dist, device: torch.device) -> tuple[Dist, torch.device]:
    """This rank's device (``cuda`` becomes ``cuda:LOCAL_RANK``, made current: one GPU per
    process), and the process group, joined (gloo on the CPU, NCCL on CUDA) unless it was."""
    if device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    dist = torch.distributed
    if dist.is_initialized():
        return d, device
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"several processes train on cpu or cuda, not {device.type}")
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        init_method="env://",
        world_size=d.world_size,
        rank=d.rank,
    )
    return Dist(d.world_size, d.rank, d.local_rank, owns_group=True), device


def close(d: Dist, model: nn.Module | None) -> None:
    """Make ``model`` a one-process model again, and leave the process group if
    :func:`init` created it."""
    if model is not None and model.memory is not None:
        model.memory.gather_queries = None
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


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DDP: rank 0's buffers on every rank, the memory's update on every
    rank's queries (gathered), no buffer sync in forward."""
    share_buffers(model)  # DDP below leaves buffers alone
    if model.memory is not None:
        model.memory.gather_queries = all_gather_rows
    ddp = nn.parallel.DistributedDataParallel
    # no buffer sync in forward: items are identical by the gathered update; BN per rank
    # (torch >= 2.13 names it forward_sync_buffers, deprecating broadcast_buffers)
    no_sync = (
        "forward_sync_buffers"
        if "forward_sync_buffers" in inspect.signature(ddp).parameters
        else "broadcast_buffers"
    )
    ids = [device.index] if device.type == "cuda" else None
    return ddp(model, device_ids=ids, **{no_sync: False})

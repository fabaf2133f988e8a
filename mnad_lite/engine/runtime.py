"""Where and how tensors run: device, seeds, threads, precision, memory layout, process.

The choices that change speed but not the method: :func:`pick_device`,
:func:`seed_everything`, :func:`set_threads` (the thread count also fixes the summation
order, hence determinism), :func:`autocast`, :func:`to_layout`; which of the processes
``torchrun`` started this one is (:class:`Dist`; what they share is
:mod:`mnad_lite.engine.distributed`); and :func:`provenance`, what a run ran on (a seed
gives the same run only on the same machine, thread count and code version).
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnad_lite.engine.config import DEVICES, portable_requested
from mnad_lite.errors import ConfigError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds libraries that use the global RNG
    torch.manual_seed(seed)


def set_threads(num_threads: int | None) -> None:
    """Use ``num_threads`` CPU threads (None: leave torch's default); 1 and 2 threads sum
    in different orders and give slightly different weights."""
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU (the CPU in a portable process, see
    :mod:`mnad_lite.engine.portable`). A forced device must exist."""
    if name == "auto" and portable_requested():
        return torch.device("cpu")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but CUDA is not available")
    if name == "mps" and not _mps_available():
        raise ConfigError("device 'mps' requested but Apple MPS is not available")
    if name not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    return torch.device(name)


def autocast(device: torch.device, amp: bool = True) -> Any:
    """bfloat16 autocast on CUDA when ``amp`` (the memory stays float32), else a no-op
    (the authors trained in float32; bf16 is this project's GPU default, for speed)."""
    if device.type == "cuda" and amp and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``x`` ``[B, C, H, W]`` in channels-last memory order when asked (values unchanged)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@dataclass(frozen=True)
class Dist:
    """This process's place: ``world_size`` processes, this one is ``rank`` (0 writes)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    owns_group: bool = False  # True when distributed.init created the process group

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


def detect_processes() -> Dist:
    """One process, an initialised process group, or torchrun's environment (``WORLD_SIZE``,
    ``RANK``, ``LOCAL_RANK``; not yet joined). A bad variable raises a ConfigError."""
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


def rank_device(device: torch.device, dist: Dist) -> torch.device:
    """One GPU per process: ``cuda`` becomes this rank's ``cuda:LOCAL_RANK`` (made current)."""
    if dist.active and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    return device


def code_version(folder: str | Path | None = None) -> dict[str, Any]:
    """``commit``: the git commit of the checkout holding ``folder`` (default: this
    package), ``modified``: whether ``folder`` differs from it; None for both when it is
    not a git checkout (installed from a wheel, or git missing)."""
    here = Path(folder) if folder is not None else Path(__file__).resolve().parents[1]

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "HEAD")
    if head is None or head.returncode != 0:
        return {"commit": None, "modified": None}
    diff = git("status", "--porcelain", "--", ".")
    modified = None if diff is None or diff.returncode != 0 else bool(diff.stdout.strip())
    return {"commit": head.stdout.strip(), "modified": modified}


def provenance(device: torch.device, num_threads: int | None = None) -> dict[str, Any]:
    """One line of a run's ``provenance.jsonl``: what it runs on (the CPU capability picks
    the kernels, which decide the last bits of every sum) and :func:`code_version`."""
    name = str(device)
    if device.type == "cuda":
        name = f"cuda ({torch.cuda.get_device_name(device)})"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "threads": num_threads if num_threads is not None else torch.get_num_threads(),
        "device": name,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        **code_version(),
    }

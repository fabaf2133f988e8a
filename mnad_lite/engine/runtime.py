"""Where and how tensors run (device, seeds, threads, precision, memory layout, process),
and what a run ran on (:func:`provenance`): a seed repeats a run only on the same machine
and code version, with one thread (:func:`set_threads`)."""

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
    """Use ``num_threads`` CPU threads (None: torch's default). One thread repeats a run bit
    for bit; with more, oneDNN's convolutions may not (measured: docs/course.md)."""
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then the CPU (always the CPU in a portable process).
    A named device must exist (else a ConfigError)."""
    if name == "auto" and portable_requested():
        return torch.device("cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but CUDA is not available")
    if name == "mps" and not _mps_available():
        raise ConfigError("device 'mps' requested but Apple MPS is not available")
    if name not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    return torch.device(name)


def autocast(device: torch.device, amp: bool = True) -> Any:
    """bfloat16 autocast on CUDA when ``amp`` (the memory stays float32), else a no-op."""
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
    owns_group: bool = False  # distributed.init created the process group

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def several_processes() -> bool:
    """Whether torchrun started several processes (``WORLD_SIZE`` not 1) or a process group
    exists: then :mod:`mnad_lite.engine.distributed` tells which this one is."""
    group = torch.distributed.is_available() and torch.distributed.is_initialized()
    return group or os.environ.get("WORLD_SIZE", "1") != "1"


def code_version(folder: str | Path | None = None) -> dict[str, Any]:
    """The git ``commit`` of the checkout holding ``folder`` (default: this package) and
    whether ``folder`` is ``modified``; None for both outside a checkout or without git."""
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
    """What a run runs on (the CPU capability picks the kernels, hence every sum's last bits)."""
    name = f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)
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

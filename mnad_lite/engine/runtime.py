"""Where and how tensors run: device, seeds, threads, precision and memory layout.

One place for the choices that change speed but not the method: :func:`pick_device`
(CUDA, then Apple MPS, then the CPU), :func:`seed_everything`, :func:`set_threads`
(the CPU thread count also fixes the summation order, hence determinism),
:func:`autocast` (bfloat16 on CUDA only; the memory always runs in float32),
:func:`to_layout` (channels-last tensors: faster convolutions on CPU and CUDA) and
:func:`provenance` (what a run ran on: a seed gives the same run only on the same
machine, thread count and code version).
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnad_lite.engine import portable
from mnad_lite.engine.config import DEVICES
from mnad_lite.errors import ConfigError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds libraries that use the global RNG
    torch.manual_seed(seed)


def set_threads(num_threads: int | None) -> None:
    """Use ``num_threads`` CPU threads (None: leave torch's default).

    Runs on the CPU are deterministic for a fixed thread count; 1 and 2 threads sum in
    different orders and give slightly different weights.
    """
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU (the CPU in a portable process, see
    :mod:`mnad_lite.engine.portable`). A forced device must exist."""
    if name == "auto" and portable.requested():
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
    """bfloat16 autocast on CUDA when ``amp`` (the memory stays float32), else a no-op.

    The authors trained in float32; bf16 is this project's GPU default for speed.
    """
    if device.type == "cuda" and amp and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``x`` ``[B, C, H, W]`` in channels-last memory order when asked (values unchanged)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


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
    """What a run runs on, one line of a run's ``provenance.jsonl``: date (UTC), host
    architecture and CPU capability (the kernels it picks decide the last bits of every
    sum), cores, threads, device (the GPU's name on CUDA), torch, Python, and the code
    version (``commit``, ``modified``: :func:`code_version`)."""
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

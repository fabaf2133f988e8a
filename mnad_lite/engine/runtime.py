"""Where and how tensors run: device, seeds, threads, precision and memory layout.

One place for the choices that change speed but not the method: :func:`pick_device`
(CUDA, then Apple MPS, then the CPU), :func:`seed_everything`, :func:`set_threads`
(the CPU thread count also fixes the summation order, hence determinism),
:func:`autocast` (bfloat16 on CUDA only; the memory always runs in float32) and
:func:`to_layout` (channels-last tensors: faster convolutions on CPU and CUDA).
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

import numpy as np
import torch

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
    """``auto``: CUDA, then Apple MPS, then CPU. A forced device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but CUDA is not available")
    if name == "mps" and not _mps_available():
        raise ConfigError("device 'mps' requested but Apple MPS is not available")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device must be auto, cpu, cuda or mps, got {name!r}")
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

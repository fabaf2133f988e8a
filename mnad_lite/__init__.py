"""mnad_lite: a small, faithful, fast reproduction of MNAD (Park, Noh and Ham, CVPR 2020).

The core, what a learner reads (``docs/architecture.md`` draws its layers): the method,
:mod:`~mnad_lite.memory` (Eqs. 1-5, 10-13, 15), :mod:`~mnad_lite.model`,
:mod:`~mnad_lite.losses` (Eqs. 8-9), :mod:`~mnad_lite.scoring` (Eqs. 6-7, 14, 16-17),
:mod:`~mnad_lite.metrics`; the data, :mod:`~mnad_lite.data`; and the engine,
:mod:`mnad_lite.engine` (configuration, checkpoints, training, inference, the paper's
evaluation protocol). Beside it, never imported by it: :mod:`mnad_lite.research`,
:mod:`mnad_lite.alerts`, :mod:`mnad_lite.course`; :mod:`mnad_lite.cli` sits on top.
The names below load lazily, so ``python -m mnad_lite --help`` starts without torch.
"""

from __future__ import annotations

import importlib
import os
import sys

# Waiting threads sleep instead of spinning (OpenMP reads this when torch loads it; a value
# set in the environment wins): on cores shared with another busy process, spinning made a
# 2-thread training step about 5x slower on this project's 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from typing import TYPE_CHECKING, Any

from mnad_lite.engine.config import portable_requested
from mnad_lite.errors import CheckpointError, ConfigError, DataError, MNADError

# MNAD_REPRODUCIBLE=portable: pin the kernels before torch loads (mnad_lite.engine.portable;
# its enable() checks them when a run starts).
if portable_requested() and "torch" not in sys.modules:
    from mnad_lite.engine.portable import pin_environment

    pin_environment()

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY = {
    "MNAD": "mnad_lite.model",
    "Memory": "mnad_lite.memory",
    "read": "mnad_lite.memory",
    "update": "mnad_lite.memory",
    "compactness_loss": "mnad_lite.memory",
    "separateness_loss": "mnad_lite.memory",
    "feature_distance": "mnad_lite.memory",
    "Config": "mnad_lite.engine.config",
    "preset": "mnad_lite.engine.config",
    "train": "mnad_lite.engine.train",
    "load_run": "mnad_lite.engine.inference",
    "score_videos": "mnad_lite.engine.inference",
    "evaluate": "mnad_lite.engine.evaluation",
}

if TYPE_CHECKING:
    from mnad_lite.engine.config import Config, preset
    from mnad_lite.engine.evaluation import evaluate
    from mnad_lite.engine.inference import load_run, score_videos
    from mnad_lite.engine.train import train
    from mnad_lite.memory import (
        Memory,
        compactness_loss,
        feature_distance,
        read,
        separateness_loss,
        update,
    )
    from mnad_lite.model import MNAD

__all__ = [
    "MNAD",
    "CheckpointError",
    "Config",
    "ConfigError",
    "DataError",
    "MNADError",
    "Memory",
    "compactness_loss",
    "evaluate",
    "feature_distance",
    "load_run",
    "preset",
    "read",
    "score_videos",
    "separateness_loss",
    "train",
    "update",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

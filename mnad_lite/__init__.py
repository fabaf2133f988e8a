"""mnad_lite: a small, faithful, fast reproduction of MNAD (Park, Noh and Ham, CVPR 2020).

The package reads as layers; each imports only the layers above it in this list:

1. the method: :mod:`~mnad_lite.memory` (Eqs. 1-5, 10-13, 15), :mod:`~mnad_lite.model`,
   :mod:`~mnad_lite.losses` (Eqs. 8-9), :mod:`~mnad_lite.scoring` (Eqs. 6-7, 14, 16-17),
   :mod:`~mnad_lite.metrics` (AUCs, EER, AP, pixel and per-kind AUC); and
   :mod:`~mnad_lite.data` (datasets, clips, the synthetic benchmark, your own video);
2. the engine, :mod:`mnad_lite.engine`: configuration, checkpoints, runtime, training,
   inference, calibration on normal footage;
3. reporting, :mod:`mnad_lite.report`: ``scores.csv``/``eval.json``, tables, figures;
4. pipelines, :mod:`mnad_lite.pipeline`: evaluation, studies, the demo, watching a video;
5. the command line (:mod:`mnad_lite.cli`) and the course (:mod:`mnad_lite.course`).

The names below are imported lazily, so ``python -m mnad_lite --help`` starts without
importing torch.
"""

from __future__ import annotations

import importlib
import os

# Threads that wait for the others sleep instead of spinning. OpenMP reads this when torch
# loads it, so it takes effect when mnad_lite is imported before torch (the command line).
# On a machine whose cores are shared with another busy process, spinning made a 2-thread
# training step about 5x slower (measured on this project's 2-core machine). A value set
# in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from typing import TYPE_CHECKING, Any

from mnad_lite.engine.portable import pin_at_import
from mnad_lite.errors import CheckpointError, ConfigError, DataError, MNADError

# MNAD_REPRODUCIBLE=portable: pin the kernels before torch loads (mnad_lite.engine.portable).
pin_at_import()

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
    "evaluate": "mnad_lite.pipeline.evaluation",
}

if TYPE_CHECKING:
    from mnad_lite.engine.config import Config, preset
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
    from mnad_lite.pipeline.evaluation import evaluate

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

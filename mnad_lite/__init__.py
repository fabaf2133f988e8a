"""mnad_lite: a small, faithful, fast reproduction of MNAD (Park, Noh and Ham, CVPR 2020).

Modules, one job each:

- :mod:`mnad_lite.memory`: the memory read, update and losses (Eqs. 1-5, 10-13)
- :mod:`mnad_lite.model`: the U-Net encoder/decoder around the memory
- :mod:`mnad_lite.scoring`: PSNR, feature distance, scores and AUCs (Eqs. 6-7, 14-17)
- :mod:`mnad_lite.checkpoint`: safe, atomic checkpoints
- :mod:`mnad_lite.data`: datasets, the synthetic benchmark, your own video
- :mod:`mnad_lite.train`, :mod:`mnad_lite.evaluate`: the pipeline; :mod:`mnad_lite.cli`
"""

from mnad_lite.errors import CheckpointError, ConfigError, DataError, MNADError
from mnad_lite.memory import Memory, compactness_loss, read, separateness_loss, update
from mnad_lite.model import MNAD

__version__ = "0.1.0"

__all__ = [
    "MNAD",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "MNADError",
    "Memory",
    "compactness_loss",
    "read",
    "separateness_loss",
    "update",
]

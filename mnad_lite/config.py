"""Run configuration: one dataclass, three presets, saved as JSON beside every result.

======== ===================================================================== ==========
preset   what it is                                                           where
======== ===================================================================== ==========
paper    the authors' hyperparameters (MNAD.md section 5): 256x256, 3 channels, a GPU
         width 64, batch 4, 60 epochs, Adam 2e-4 with cosine annealing
lite     the same architecture narrower (width 16) on 128x128 gray frames,      a CPU
         sized to train on Ped2 in about half an hour on 2 cores
quick    seconds: tiny frames and width, for CI, tests and notebooks           anywhere
======== ===================================================================== ==========

Fields left as ``None`` take the method's default (prediction vs reconstruction use
different loss weights, score weights and test-time thresholds in the authors' code).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnad_lite.errors import ConfigError

PRESETS = ("paper", "lite", "quick")

#: Per-method defaults of the authors' code (MNAD.md section 5 and 4).
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "pred": {
        "t_length": 5,
        "lambda_compact": 0.1,
        "lambda_separate": 0.1,
        "lam": 0.6,
        "gamma": 0.01,
    },
    "recon": {
        "t_length": 1,
        "lambda_compact": 0.01,
        "lambda_separate": 0.01,
        "lam": 0.7,
        "gamma": 0.015,
    },
}


@dataclass
class Config:
    """Everything a run depends on. Notation as in MNAD.md (lambda_compact = λ_c, ...)."""

    preset: str = "lite"
    method: str = "pred"
    # data
    size: tuple[int, int] = (128, 128)  # (H, W) after resizing, divisible by 8
    channels: int = 1  # 3 = the authors' (gray frames repeated), 1 = gray
    t_length: int | None = None  # frames per clip incl. the target (5 pred, 1 recon)
    val_videos: int = 0  # training videos held out for model selection (never test labels)
    # model
    width: int = 16
    num_items: int = 10  # M
    use_memory: bool = True
    weight_norm: str = "all"  # Eq. 5: "all" (code) or "assigned" (paper)
    loss_form: str = "code"  # Eqs. 9-10: "code" (mean squared error) or "paper" (L2 norms)
    margin: float = 1.0  # alpha of Eq. 12
    # training
    lambda_compact: float | None = None  # λ_c of Eq. 8
    lambda_separate: float | None = None  # λ_s of Eq. 8
    batch_size: int = 4
    epochs: int = 20
    lr: float = 2e-4
    max_steps: int | None = None  # per epoch; None = the whole training set
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    amp: bool = True  # mixed precision (bfloat16) on CUDA only
    channels_last: bool = True  # NHWC tensors: faster convolutions on CPU (1.2x here) and CUDA
    num_workers: int = 0
    num_threads: int | None = None  # CPU threads (None: torch's default); fixes determinism
    # scoring (Eqs. 6-7, 16)
    lam: float | None = None  # λ of Eq. 16
    gamma: float | None = None  # γ, test-time update threshold (Eq. 7)
    test_update: bool = True
    eval_batch_size: int = 8
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.size = tuple(int(s) for s in self.size)  # type: ignore[assignment]
        if self.method not in METHOD_DEFAULTS:
            raise ConfigError(f"method must be 'pred' or 'recon', got {self.method!r}")
        for key, value in METHOD_DEFAULTS[self.method].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if len(self.size) != 2 or any(s <= 0 or s % 8 for s in self.size):
            raise ConfigError(f"size must be (H, W) with both divisible by 8, got {self.size}")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")
        if self.batch_size < 1 or self.epochs < 0 or self.width < 1 or self.num_items < 1:
            raise ConfigError("batch_size, width and num_items must be >= 1, epochs >= 0")
        if self.use_memory and self.num_items < 2 and self.lambda_separate:
            raise ConfigError("the separateness loss needs num_items >= 2")
        if self.device not in ("auto", "cpu", "cuda", "mps"):
            raise ConfigError(f"device must be auto, cpu, cuda or mps, got {self.device!r}")

    # --- derived -------------------------------------------------------------------------

    def model_args(self) -> dict[str, Any]:
        """Keyword arguments of :class:`mnad_lite.model.MNAD` (saved in checkpoints)."""
        return {
            "method": self.method,
            "in_channels": self.channels,
            "t_length": self.t_length,
            "width": self.width,
            "num_items": self.num_items,
            "use_memory": self.use_memory,
            "weight_norm": self.weight_norm,
            "loss_form": self.loss_form,
            "margin": self.margin,
        }

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["size"] = list(self.size)
        return d

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown configuration fields: {', '.join(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"invalid configuration value ({err})") from None

    @classmethod
    def load(cls, path: str | Path) -> Config:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: cannot read the configuration ({err})") from None
        return cls.from_dict(data)


_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "size": (256, 256),
        "channels": 3,
        "width": 64,
        "batch_size": 4,
        "epochs": 60,
        "lr": 2e-4,
    },
    "lite": {
        "size": (128, 128),
        "channels": 1,
        "width": 16,
        "batch_size": 4,
        "epochs": 20,
        "lr": 2e-4,
    },
    "quick": {
        "size": (32, 48),
        "channels": 1,
        "width": 4,
        "batch_size": 4,
        "epochs": 2,
        "lr": 1e-3,
        "max_steps": 8,
        "eval_batch_size": 16,
    },
}


def preset(name: str = "lite", **overrides: Any) -> Config:
    """A :class:`Config` from a preset, with any field overridden.

    >>> preset("paper", method="recon").lambda_compact
    0.01
    """
    if name not in _PRESETS:
        raise ConfigError(f"preset must be one of {PRESETS}, got {name!r}")
    values = {**_PRESETS[name], **overrides}  # an explicit None is kept (e.g. max_steps)
    return Config.from_dict({**values, "preset": name})

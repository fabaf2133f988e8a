"""Run configuration: one dataclass, four presets, saved as JSON beside every result.

Presets: ``paper``, the authors' hyperparameters (MNAD.md section 5; for a GPU); ``lite``,
the same architecture at width 16 on 128x128 gray frames (Ped2 in 50 to 75 minutes on 2
CPU cores); ``fast``, Ped2 in 45 CPU minutes; ``quick``, seconds (CI, tests, notebooks).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnad_lite.errors import ConfigError
from mnad_lite.files import write_json
from mnad_lite.forms import FORMS, WEIGHT_NORMS

PRESETS = ("paper", "lite", "fast", "quick")
#: ``Config.reproducible``: deterministic on one machine, or the same bits on every x86-64 CPU.
MODES = ("machine", "portable")
#: ``MNAD_REPRODUCIBLE=portable`` makes a process portable from ``import mnad_lite`` on.
SWITCH = "MNAD_REPRODUCIBLE"

#: Per-method defaults of the authors' code (MNAD.md sections 4-5) for fields left None.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "pred": dict(t_length=5, lambda_compact=0.1, lambda_separate=0.1, lambda_score=0.6, gamma=0.01),
    "recon": dict(
        t_length=1, lambda_compact=0.01, lambda_separate=0.01, lambda_score=0.7, gamma=0.015
    ),
}


BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Fields with a fixed set of values.
CHOICES: dict[str, tuple[Any, ...]] = {
    "preset": PRESETS,
    "method": tuple(METHOD_DEFAULTS),
    "channels": (1, 3),
    "weight_norm": WEIGHT_NORMS,
    **dict.fromkeys(("loss_form", "psnr_form", "score_form", "distance_form"), FORMS),
    "position": ("none", "input", "query"),
    "device": DEVICES,
    "reproducible": MODES,
}
#: Lower bounds of numeric fields (inclusive).
MINIMUM: dict[str, float] = {
    **dict.fromkeys(("val_videos", "epochs", "num_workers"), 0),
    **dict.fromkeys(("margin", "lambda_compact", "lambda_separate", "lambda_score", "gamma"), 0.0),
    **dict.fromkeys(("t_length", "width", "num_items", "batch_size", "max_steps"), 1),
    **dict.fromkeys(("num_threads", "eval_batch_size", "world_size"), 1),
}


@dataclass
class Config:
    """Everything a run depends on (notation: docs/notation.md). A bad field, given as a value
    or as text (``true/no/1``, numbers, ``none``), raises a one-line ConfigError naming it."""

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
    # beyond the paper (mnad_lite.model.MNAD says what they do)
    position: str = "none"  # coordinate channels on the encoder input or the query map
    read_temperature: float = 1.0  # τ of w = softmax(q·p / τ), Eqs. 1-2 (the paper: 1)
    read_gradient: bool = False  # a gradient through w (the authors' code detaches it)
    deep_skip: bool = True  # False: no deepest skip (prediction only)
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
    channels_last: bool = True  # NHWC: CUDA's fast layout; this CPU: even at width 16, slower at 64
    num_workers: int = 0
    num_threads: int | None = None  # CPU threads (None: torch's default); fixes determinism
    reproducible: str = "machine"  # one of MODES
    world_size: int = 1  # processes (torchrun sets it); global batch = world_size x batch_size
    # scoring (Eqs. 6-7, 14-16)
    lambda_score: float | None = None  # λ of Eq. 16
    gamma: float | None = None  # γ, test-time update threshold (Eq. 7)
    test_update: bool = True
    psnr_form: str = "code"  # Eq. 14: "code" (peak 1) or "paper" (peak max Î)
    score_form: str = "code"  # Eq. 6: "code" (squared error per element) or "paper" (L2)
    distance_form: str = "code"  # Eq. 15: "code" (mean squared) or "paper" (mean L2)
    eval_batch_size: int = 8

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), hints[f.name]))
        for key, value in METHOD_DEFAULTS[self.method].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if any(s % 8 for s in self.size):
            raise ConfigError(f"size must be (H, W) with both divisible by 8, got {self.size}")
        if self.lambda_score > 1:
            raise ConfigError(f"lambda_score must be in [0, 1], got {self.lambda_score}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.read_temperature <= 0:
            raise ConfigError(f"read_temperature must be > 0, got {self.read_temperature}")
        if self.method == "recon" and not self.deep_skip:
            raise ConfigError("deep_skip=false applies to prediction: reconstruction has no skips")
        if self.method == "recon" and self.t_length != 1:
            raise ConfigError(f"reconstruction uses t_length = 1, got {self.t_length}")
        if self.method == "pred" and self.t_length < 2:
            raise ConfigError(f"prediction needs t_length >= 2, got {self.t_length}")
        if self.reproducible == "portable":
            if self.device not in ("auto", "cpu"):
                raise ConfigError(f"reproducible=portable runs on the CPU, not {self.device!r}")
            if self.num_threads not in (None, 1) or self.world_size != 1:
                raise ConfigError("reproducible=portable runs on one thread in one process")
        if self.use_memory and self.num_items < 2 and self.lambda_separate:
            raise ConfigError("the separateness loss needs num_items >= 2")

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
            "distance_form": self.distance_form,
            "position": self.position,
            "read_temperature": self.read_temperature,
            "read_gradient": self.read_gradient,
            "deep_skip": self.deep_skip,
        }

    def split_videos(self, videos: list) -> tuple[list, list]:
        """(trained on, held out): the last ``val_videos`` videos are held out."""
        if self.val_videos <= 0:
            return list(videos), []
        if self.val_videos >= len(videos):
            raise ConfigError(
                f"val_videos={self.val_videos} leaves no training video "
                f"(the dataset has {len(videos)})"
            )
        return list(videos[: -self.val_videos]), list(videos[-self.val_videos :])

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "size": list(self.size)}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
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
    "paper": dict(size=(256, 256), channels=3, width=64, batch_size=4, epochs=60, lr=2e-4),
    "lite": dict(size=(128, 128), channels=1, width=16, batch_size=4, epochs=20, lr=2e-4),
    # chosen by held-out error, not test labels: s160x240-w8 of docs/studies/fast-ped2.md
    "fast": dict(
        size=(160, 240), channels=1, width=8, batch_size=4, epochs=17, lr=2e-4, val_videos=2
    ),
    "quick": dict(
        size=(32, 48),
        channels=1,
        width=4,
        batch_size=4,
        epochs=2,
        lr=1e-3,
        max_steps=8,
        eval_batch_size=16,
    ),
}


def preset(name: str = "lite", **overrides: Any) -> Config:
    """A :class:`Config` from a preset, with any field overridden."""
    if name not in _PRESETS:
        raise ConfigError(f"preset must be one of {PRESETS}, got {name!r}")
    values = {**_PRESETS[name], **overrides}  # an explicit None is kept (e.g. max_steps)
    return Config.from_dict({**values, "preset": name})


def parse_size(text: str) -> tuple[int, int]:
    """``"256x256"`` or ``"256,256"`` -> ``(256, 256)`` (H, W, both > 0), else ValueError."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ValueError(f"expected HxW such as 256x256, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def portable_requested() -> bool:
    """The environment asks for portable runs (``MNAD_REPRODUCIBLE=portable``)."""
    return os.environ.get(SWITCH, "").strip().lower() == "portable"


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return BOOL_WORDS.get(value.lower()) if isinstance(value, str) else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def _as_size(value: Any) -> tuple[int, int] | None:
    try:
        out = parse_size(value) if isinstance(value, str) else tuple(int(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == 2 and min(out) > 0 else None  # type: ignore[return-value]


#: Field type -> (converter returning None for a bad value, what the field expects).
_CONVERTERS: dict[Any, tuple[Any, str]] = {
    bool: (_as_bool, "true or false"),
    int: (_as_int, "an integer"),
    float: (_as_float, "a finite number"),
    str: (lambda v: v if isinstance(v, str) else None, "text"),
    tuple: (_as_size, "(H, W) as two positive integers"),
}


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` of field ``name`` (text accepted), or a ConfigError."""
    args = typing.get_args(hint)
    optional = (typing.get_origin(hint) in (typing.Union, types.UnionType)) and type(None) in args
    if optional:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        hint = next(a for a in args if a is not type(None))
    convert, expected = _CONVERTERS[typing.get_origin(hint) or hint]
    out = convert(value)
    if out is None:
        raise ConfigError(f"configuration field {name}: expected {expected}, got {value!r}")
    if name in CHOICES and out not in CHOICES[name]:
        raise ConfigError(
            f"configuration field {name}: must be one of {CHOICES[name]}, got {value!r}"
        )
    if name in MINIMUM and out < MINIMUM[name]:
        raise ConfigError(f"configuration field {name}: must be >= {MINIMUM[name]}, got {value!r}")
    return out

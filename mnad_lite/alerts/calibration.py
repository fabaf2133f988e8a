"""Calibration: what normal footage looks like to a trained run, measured without test data.

Scores on your own footage need three numbers the paper's protocol takes from the test
video itself (Eq. 17 min-max, with future frames). Here they come from **normal videos
only**, the calibration videos:

- the training videos the run held out (the last ``val_videos`` of the dataset's
  training split, as :mod:`mnad_lite.engine.train` held them out), or, when the run held
  none out, all training videos (which the model has seen: an optimistic calibration,
  recorded as ``source = "training"``);
- scored with the test-time update **off** (the trained memory, unchanged).

From their frames: the mean and standard deviation of P and D (the online form of Eq. 17,
:class:`mnad_lite.alerts.online.OnlineStats`); their online scores S_t (kept sorted, so any
quantile can serve as a threshold: ``auto`` = the 99th percentile); and a pixel threshold
for localisation (the 0.99 quantile of all their error-map pixels). A
:class:`Calibration` is saved as ``calibration.json`` beside ``eval.json``; ``watch``
reads it from the run folder.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnad_lite.alerts.localization import pixel_threshold
from mnad_lite.alerts.online import OnlineStats, online_score
from mnad_lite.engine.config import Config
from mnad_lite.engine.inference import FrameScores, score_videos
from mnad_lite.errors import ConfigError, DataError, MNADError
from mnad_lite.files import write_json
from mnad_lite.model import MNAD
from mnad_lite.scoring import memory_terms

CALIBRATION_FILE = "calibration.json"
DEFAULT_QUANTILE = 99.0  # percentile of the calibration scores: the ``auto`` threshold
PIXEL_QUANTILE = 0.99  # quantile of the calibration error-map pixels: the pixel threshold
VERSION = 1


@dataclass
class Calibration:
    """Normal-data statistics of one run (see the module docstring).

    ``scores`` are the calibration frames' online scores ``[N]``, sorted ascending.
    """

    stats: OnlineStats
    lambda_score: float
    scores: np.ndarray
    videos: list[str]
    source: str  # "val_videos" (held out) or "training" (seen in training)
    pixel_threshold: float
    pixel_quantile: float = PIXEL_QUANTILE
    config: dict[str, Any] = field(default_factory=dict)  # what must match at use
    fingerprint: dict[str, Any] = field(default_factory=dict)  # weights and videos scored

    @property
    def frames(self) -> int:
        return int(len(self.scores))

    @property
    def low_score(self) -> float:
        """The lowest calibration score (a floor for plotting online scores)."""
        return float(self.scores[0])

    def threshold(self, percentile: float = DEFAULT_QUANTILE) -> float:
        """The ``percentile`` (0 < Q < 100) of the calibration frames' online scores."""
        if not 0.0 < percentile < 100.0:
            raise ConfigError(f"threshold percentile must lie in (0, 100), got {percentile}")
        return float(np.percentile(self.scores, percentile))

    def summary(self) -> dict[str, Any]:
        """What ``eval.json`` records (everything but the score list)."""
        return {
            "source": self.source,
            "videos": list(self.videos),
            "frames": self.frames,
            "test_update": False,
            **self.stats.to_dict(),
            "lambda_score": self.lambda_score,
            f"score_p{DEFAULT_QUANTILE:g}": self.threshold(),
            "pixel_quantile": self.pixel_quantile,
            "pixel_threshold": self.pixel_threshold,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            **self.summary(),
            "config": self.config,
            "fingerprint": self.fingerprint,
            "scores": [float(s) for s in self.scores],
        }

    def save(self, path: str | Path) -> Path:
        """Write ``calibration.json`` atomically (through a temporary sibling)."""
        return write_json(path, self.to_dict(), indent=1)

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read ``calibration.json``; ConfigError naming the file when absent or broken."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"{path}: no calibration; run `mnad-lite calibrate --run RUN --data DATA` "
                "(or evaluate) first"
            )
        try:
            data = json.loads(path.read_text())
            scores = np.sort(np.asarray(data["scores"], dtype=np.float64))
            cal = cls(
                stats=OnlineStats.from_dict(data),
                lambda_score=float(data["lambda_score"]),
                scores=scores,
                videos=[str(v) for v in data["videos"]],
                source=str(data["source"]),
                pixel_threshold=float(data["pixel_threshold"]),
                pixel_quantile=float(data["pixel_quantile"]),
                config=dict(data.get("config", {})),
                fingerprint=dict(data.get("fingerprint", {})),
            )
        except (OSError, ValueError, KeyError, TypeError, MNADError) as err:
            raise ConfigError(f"{path}: not a valid calibration file ({err})") from None
        if scores.ndim != 1 or len(scores) < 2 or not np.isfinite(scores).all():
            raise ConfigError(f"{path}: not a valid calibration file (scores)")
        return cal

    def check(self, config: Config, where: str | Path) -> None:
        """ConfigError when the calibration was made for another frame size or method."""
        mine = _signature(config)
        for key, value in self.config.items():
            if key in mine and mine[key] != value:
                raise ConfigError(
                    f"{where}: calibrated with {key}={value}, but the run has {mine[key]}"
                )


def fingerprint(weights: str | Path, videos: list) -> dict[str, Any]:
    """What a calibration depends on besides the configuration: the weights file's SHA-256
    and the calibration videos (name, frame count, and the hash of their files' names,
    sizes and modification times). Equal fingerprints: reuse is safe."""
    path = Path(weights)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {
        "weights_sha256": digest.hexdigest(),
        "videos": [[v.name, len(v), v.signature()] for v in videos],
    }


def reusable(path: str | Path, config: Config, stamp: dict[str, Any]) -> Calibration | None:
    """The calibration stored at ``path`` if it was made from the same weights, videos and
    scoring configuration (``stamp`` from :func:`fingerprint`), else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        cal = Calibration.load(path)
    except ConfigError:
        return None
    lam = cal.lambda_score
    same_score = lam == config.lambda_score or (lam == 1.0 and not config.use_memory)
    if cal.fingerprint != stamp or cal.config != _signature(config) or not same_score:
        return None
    return cal


def _signature(config: Config) -> dict[str, Any]:
    return {
        "method": config.method,
        "size": list(config.size),
        "channels": config.channels,
        "t_length": config.t_length,
        "psnr_form": config.psnr_form,
        "distance_form": config.distance_form,
    }


def calibration_videos(dataset: Any, config: Config) -> tuple[list, str]:
    """(videos, source): the run's held-out training videos, else all training videos."""
    train = list(dataset.train)
    if not train:
        raise DataError(f"{dataset.root}: no training videos to calibrate on")
    if 0 < config.val_videos < len(train):
        return config.split_videos(train)[1], "val_videos"
    return train, "training"


def calibrate(
    model: MNAD,
    config: Config,
    videos: list,
    source: str,
    device: torch.device | None = None,
    progress: bool = False,
) -> tuple[Calibration, FrameScores]:
    """Score ``videos`` (normal footage) with the update off; their statistics and scores.

    Returns the :class:`Calibration` and the calibration frames' :class:`FrameScores`.
    """
    scores = score_videos(model, videos, config, False, None, device, progress)
    if len(scores) < 2:
        raise DataError(
            f"calibration videos ({', '.join(v.name for v in videos)}) have fewer than 2 "
            f"scorable frames (t_length = {config.t_length})"
        )
    has_memory = model.memory is not None
    distances, lam = memory_terms(scores.distance, config.lambda_score, has_memory)
    stats = OnlineStats.fit(scores.psnr, distances)
    online = np.sort(online_score(scores.psnr, distances, stats, lam))
    cal = Calibration(
        stats=stats,
        lambda_score=lam,
        scores=online,
        videos=[v.name for v in videos],
        source=source,
        pixel_threshold=pixel_threshold(scores.error_maps, PIXEL_QUANTILE),
        config=_signature(config),
    )
    return cal, scores


def parse_threshold(spec: str | float | None) -> tuple[str, float] | None:
    """``None`` | ``T`` | ``"auto"`` | ``"auto:Q"`` -> None, ("value", T) or ("auto", Q).

    ConfigError (one line) on anything else.
    """
    if spec is None:
        return None
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        value = float(spec)
        if not math.isfinite(value):
            raise ConfigError(f"threshold must be finite, got {spec!r}")
        return "value", value
    text = str(spec).strip().lower()
    if text == "auto":
        return "auto", DEFAULT_QUANTILE
    if text.startswith("auto:"):
        try:
            q = float(text[5:])
        except ValueError:
            q = math.nan
        if not 0.0 < q < 100.0:
            raise ConfigError(f"threshold {spec!r}: auto:Q needs a percentile Q in (0, 100)")
        return "auto", q
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"threshold must be a number, 'auto' or 'auto:Q', got {spec!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"threshold must be finite, got {spec!r}")
    return "value", value

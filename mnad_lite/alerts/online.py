"""The online form of Eq. 17, for streams: standardisation with statistics of normal data.

``g(x) = (x - mu) / sigma`` with the mean and standard deviation of P and D over
calibration frames (held-out normal training videos, :class:`OnlineStats`), so a frame's
score depends only on that frame and the training data, never on future frames. Eq. 16
(:func:`mnad_lite.scoring.combine`) becomes
``S_t = λ (mu_P - P_t) / sigma_P + (1 - λ) (D_t - mu_D) / sigma_D``: the ``1 -`` of Eq. 16
turns into a sign flip and the constant is dropped, so S_t = 0 is a frame as typical as
the calibration mean, and S_t is not bounded to [0, 1]. Mean and standard deviation rather
than quantiles: two numbers per quantity, every calibration frame counts; the threshold
is then a quantile of the calibration frames' own online scores
(:mod:`mnad_lite.alerts.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mnad_lite.errors import MNADError
from mnad_lite.scoring import as_1d, check_same_length, combine


@dataclass(frozen=True)
class OnlineStats:
    """Statistics of normal data for the online form of Eq. 17: mean and standard
    deviation of P (Eq. 14) and D (Eq. 15) over calibration frames.

    ``distance_mean``/``distance_std`` are None for a model without memory (no D).
    """

    psnr_mean: float
    psnr_std: float
    distance_mean: float | None = None
    distance_std: float | None = None

    @classmethod
    def fit(cls, psnr_values: np.ndarray, distances: np.ndarray | None = None) -> OnlineStats:
        """Mean and (population) standard deviation of P ``[N]`` and D ``[N]`` of normal
        frames. MNADError when there are fewer than 2 frames or a quantity is constant."""
        p = as_1d("psnr_values", psnr_values).astype(np.float64)
        if len(p) < 2:
            raise MNADError(f"calibration needs at least 2 frames, got {len(p)}")
        d = None if distances is None else as_1d("distances", distances).astype(np.float64)
        if d is not None:
            check_same_length(psnr_values=p, distances=d)
        for name, x in (("PSNR", p), ("feature distance", d)):
            if x is not None and not (np.isfinite(x).all() and x.std() > 0):
                raise MNADError(f"calibration: {name} is constant or not finite on the frames")
        return cls(
            float(p.mean()),
            float(p.std()),
            None if d is None else float(d.mean()),
            None if d is None else float(d.std()),
        )

    def to_dict(self) -> dict[str, float | None]:
        return {
            "psnr_mean": self.psnr_mean,
            "psnr_std": self.psnr_std,
            "distance_mean": self.distance_mean,
            "distance_std": self.distance_std,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OnlineStats:
        try:
            stats = cls(
                **{
                    k: None if data[k] is None else float(data[k])
                    for k in ("psnr_mean", "psnr_std", "distance_mean", "distance_std")
                }
            )
        except (KeyError, TypeError, ValueError) as err:
            raise MNADError(f"online statistics: missing or bad value ({err})") from None
        if not stats.psnr_std > 0 or (
            stats.distance_std is not None and not stats.distance_std > 0
        ):
            raise MNADError("online statistics: standard deviations must be > 0")
        return stats


def standardize(values: np.ndarray, mean: float, std: float) -> np.ndarray:
    """The online form of Eq. 17: ``g(x) = (x - mean) / std`` with normal-data statistics."""
    if not std > 0:
        raise MNADError(f"standardize: std must be > 0, got {std}")
    return (np.asarray(values, dtype=np.float64) - mean) / std


def online_score(
    psnr_values: np.ndarray,
    distances: np.ndarray | None,
    stats: OnlineStats,
    lambda_score: float = 0.6,
) -> np.ndarray:
    """Eq. 16 with the online Eq. 17, frame by frame (no video, no future):
    ``S_t = λ (mu_P - P_t) / sigma_P + (1 - λ) (D_t - mu_D) / sigma_D``.

    ``distances`` None (no memory): ``S_t = (mu_P - P_t) / sigma_P`` (λ = 1).
    Returns ``[N]`` scores (0 = the calibration mean; higher = more anomalous).
    """
    psnr_part = -standardize(psnr_values, stats.psnr_mean, stats.psnr_std)
    distance_part = None
    if distances is not None:
        if stats.distance_mean is None or stats.distance_std is None:
            raise MNADError("online statistics hold no feature distance (a model without memory)")
        distance_part = standardize(distances, stats.distance_mean, stats.distance_std)
    return combine(psnr_part, distance_part, lambda_score)

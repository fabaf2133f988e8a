"""Frame scores: Eqs. 6-7 and 14, 16-17 (the feature distance, Eq. 15, is in memory.py).

Tensor functions take frames in the network's range [-1, 1]:

- :func:`frame_error` (the squared error on [0, 1] frames that Eqs. 6 and 14 share),
  :func:`psnr` (Eq. 14), :func:`regular_score` (Eqs. 6-7) -> per frame.

Array functions take one value per test frame, all test videos concatenated, with
``video_ids`` ``[N]`` saying which video each frame belongs to:

- :func:`minmax` / :func:`normalize` (Eq. 17), :func:`anomaly_score` (Eq. 16).

Eq. 17 has three forms here (``normalization``):

- ``"video"``: min-max over all frames of the same test video (the paper's protocol). It
  uses future frames and forces every video to span 0..1.
- ``"global"``: one min-max over all test frames.
- ``"online"``: **standardisation with statistics of normal data only**,
  ``g(x) = (x - mu) / sigma`` with the mean and standard deviation of P and D over
  calibration frames (held-out normal training videos, :class:`OnlineStats`), so a
  frame's score depends only on that frame and the training data: usable on a stream.
  Eq. 16 becomes ``S_t = λ (mu_P - P_t) / sigma_P + (1 - λ) (D_t - mu_D) / sigma_D``
  (the ``1 -`` of Eq. 16 turns into a sign flip; the constant is dropped, so S_t = 0 is
  a frame as typical as the calibration mean, and S_t is not bounded to [0, 1]).
  Mean and standard deviation rather than quantiles: two numbers per quantity, every
  calibration frame counts, and the threshold is then chosen on the calibration frames'
  own online scores (a quantile of them) in :mod:`mnad_lite.engine.calibration`.

How scores are judged against labels (AUCs, EER, AP) is :mod:`mnad_lite.metrics`.
Anomaly scores: higher = more anomalous.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from mnad_lite.errors import MNADError
from mnad_lite.forms import Form, check_form

Normalization = Literal["video", "global", "online"]
MSE_FLOOR = 1e-10  # keeps PSNR finite for a perfect prediction


def _check_frames(prediction: Tensor, target: Tensor) -> None:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise MNADError(
            f"prediction and target must both be [B, C, H, W], got {tuple(prediction.shape)} "
            f"and {tuple(target.shape)}"
        )


def to_unit(x: Tensor) -> Tensor:
    """Map frames from [-1, 1] to [0, 1]."""
    return (x + 1) / 2


def frame_error(prediction: Tensor, target: Tensor) -> Tensor:
    """Squared error of every element on frames rescaled to [0, 1]: ``[B, C, H, W]``.

    The error both PSNR (Eq. 14) and the regular score (Eq. 6) start from, and the
    per-pixel error map of the figures (mean over channels).
    """
    _check_frames(prediction, target)
    return (to_unit(prediction.float()) - to_unit(target.float())) ** 2


def psnr(prediction: Tensor, target: Tensor, form: Form = "code") -> Tensor:
    """PSNR per frame, Eq. 14: ``10 log10(peak^2 / mse)``.

    Frames are rescaled to [0, 1] first. ``form="code"`` (authors' code, default) uses
    peak 1; ``form="paper"`` uses ``peak = max(Î_t)`` as printed.

    Args:
        prediction: Î, ``[B, C, H, W]`` in [-1, 1]; target: I, same shape.

    Returns:
        ``[B]`` PSNR in dB.
    """
    check_form("form", form)
    mse = frame_error(prediction, target).flatten(1).mean(dim=1).clamp_min(MSE_FLOOR)
    if form == "code":
        return 10 * torch.log10(1 / mse)
    peak = to_unit(prediction.float()).flatten(1).amax(dim=1)
    return 10 * torch.log10(peak**2 / mse)


def regular_score(prediction: Tensor, target: Tensor, form: Form = "code") -> Tensor:
    """Weighted regular score per frame, Eqs. 6-7: ``eps_t = sum_ij W_ij e_ij``.

    ``W_ij = (1 - exp(-e_ij)) / sum_ij (1 - exp(-e_ij))``. With ``form="code"`` (default)
    ``e`` is the squared error of every element (pixel and channel) on [0, 1] frames,
    as in the authors' code; with ``form="paper"`` it is the per-pixel L2 norm over
    channels, as printed. The memory is updated at test time when ``eps_t < gamma``.

    Returns:
        ``[B]`` scores.
    """
    check_form("form", form)
    sq = frame_error(prediction, target)  # [B, C, H, W]
    if form == "code":
        err = sq.flatten(1)  # [B, C*H*W]
    else:
        err = sq.sum(dim=1).sqrt().flatten(1)  # ||Î^{ij} - I^{ij}||_2   [B, H*W]
    weights = 1 - torch.exp(-err)  # Eq. 7, before normalisation
    denom = weights.sum(dim=1).clamp_min(torch.finfo(weights.dtype).tiny)
    return (weights * err).sum(dim=1) / denom


# --- per-frame arrays ----------------------------------------------------------------------


def _as_1d(name: str, values: np.ndarray | list | Tensor) -> np.ndarray:
    arr = values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)
    if arr.ndim == 2 and 1 in arr.shape:  # (1, N) or (N, 1), as label files often are
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise MNADError(f"{name} must have shape [N] (or (1, N)), got {arr.shape}")
    return arr


def _check_same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise MNADError(f"per-frame arrays must have the same length: {shown}")


def minmax(values: np.ndarray) -> np.ndarray:
    """Eq. 17: ``g(x) = (x - min x) / (max x - min x)``; a constant array maps to zeros."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    lo, hi = values.min(), values.max()
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


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
        p = _as_1d("psnr_values", psnr_values).astype(np.float64)
        if len(p) < 2:
            raise MNADError(f"calibration needs at least 2 frames, got {len(p)}")
        d = None if distances is None else _as_1d("distances", distances).astype(np.float64)
        if d is not None:
            _check_same_length(psnr_values=p, distances=d)
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


def normalize(
    values: np.ndarray,
    video_ids: np.ndarray,
    normalization: Normalization = "video",
    stats: tuple[float, float] | None = None,
) -> np.ndarray:
    """Eq. 17: min-max per test video (the paper's protocol), once over all frames, or
    standardised with normal-data statistics (``"online"``, needs ``stats`` = (mean, std)).

    Args:
        values: ``[N]`` per-frame values; video_ids: ``[N]`` video of each frame.
        normalization: ``"video"`` (paper), ``"global"`` or ``"online"``.
    """
    values, video_ids = _as_1d("values", values), _as_1d("video_ids", video_ids)
    _check_same_length(values=values, video_ids=video_ids)
    if normalization == "global":
        return minmax(values)
    if normalization == "online":
        if stats is None:
            raise MNADError("online normalisation needs calibration statistics (mean, std)")
        return standardize(values, *stats)
    if normalization != "video":
        raise MNADError(
            f"normalization must be 'video', 'global' or 'online', got {normalization!r}"
        )
    out = np.empty(len(values), dtype=np.float64)
    for vid in np.unique(video_ids):  # one pass per video, vectorised inside
        sel = video_ids == vid
        out[sel] = minmax(values[sel])
    return out


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
    if not 0.0 <= lambda_score <= 1.0:
        raise MNADError(f"lambda_score must be in [0, 1], got {lambda_score}")
    psnr_part = -standardize(psnr_values, stats.psnr_mean, stats.psnr_std)
    if distances is None:
        return psnr_part
    if stats.distance_mean is None or stats.distance_std is None:
        raise MNADError("online statistics hold no feature distance (a model without memory)")
    distance_part = standardize(distances, stats.distance_mean, stats.distance_std)
    return lambda_score * psnr_part + (1 - lambda_score) * distance_part


def anomaly_score(
    psnr_values: np.ndarray,
    distances: np.ndarray | None,
    video_ids: np.ndarray,
    lambda_score: float = 0.6,
    normalization: Normalization = "video",
    stats: OnlineStats | None = None,
) -> np.ndarray:
    """Abnormality score, Eq. 16: ``S_t = λ (1 - g(P_t)) + (1 - λ) g(D_t)``.

    Args:
        psnr_values: P, ``[N]``; distances: D, ``[N]`` (None -> PSNR only, λ = 1).
        video_ids: ``[N]``; lambda_score: λ (0.6 pred, 0.7 recon in the code).
        normalization: g per video (Eq. 17), over all frames at once, or ``"online"``
            (standardised with ``stats`` of normal data: :func:`online_score`).

    Returns:
        ``[N]`` anomaly scores, in [0, 1] for the min-max forms.
    """
    if not 0.0 <= lambda_score <= 1.0:
        raise MNADError(f"lambda_score must be in [0, 1], got {lambda_score}")
    if normalization == "online":
        if stats is None:
            raise MNADError("online normalisation needs calibration statistics (OnlineStats)")
        psnr_values, video_ids = _as_1d("psnr_values", psnr_values), _as_1d("video_ids", video_ids)
        _check_same_length(psnr_values=psnr_values, video_ids=video_ids)
        return online_score(psnr_values, distances, stats, lambda_score)
    psnr_part = 1 - normalize(psnr_values, video_ids, normalization)
    if distances is None:
        return psnr_part
    distance_part = normalize(distances, video_ids, normalization)
    return lambda_score * psnr_part + (1 - lambda_score) * distance_part

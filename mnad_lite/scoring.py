"""Frame scores: Eqs. 6-7 and 14, 16-17 (the feature distance, Eq. 15, is in memory.py).

Tensor functions take frames in the network's range [-1, 1] and give one value per frame:
:func:`psnr` (Eq. 14) and :func:`regular_score` (Eqs. 6-7), both from :func:`frame_error`.
Array functions take one value per test frame, all test videos concatenated, and
``video_ids`` ``[N]``: :func:`normalize` (Eq. 17, min-max per test video as in the paper,
which uses future frames, or once over all frames) and :func:`anomaly_score` (Eq. 16).
The online form for streams, standardised on normal data only, is
:mod:`mnad_lite.alerts.online`, built on :func:`combine`. Anomaly scores: higher = more
anomalous; :mod:`mnad_lite.metrics` judges them against labels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from mnad_lite.errors import MNADError
from mnad_lite.forms import Form, check_form

Normalization = Literal["video", "global"]
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
    """Squared error of every element on frames rescaled to [0, 1], ``[B, C, H, W]``: where
    PSNR (Eq. 14), the regular score (Eq. 6) and the error maps start."""
    _check_frames(prediction, target)
    return (to_unit(prediction.float()) - to_unit(target.float())) ** 2


def psnr(prediction: Tensor, target: Tensor, form: Form = "code") -> Tensor:
    """PSNR per frame in dB, Eq. 14: ``10 log10(peak^2 / mse)``, Î and I ``[B, C, H, W]`` in
    [-1, 1] -> ``[B]``. Frames are rescaled to [0, 1] first; the peak is 1 (``"code"``,
    the default) or ``max(Î_t)`` as printed (``"paper"``)."""
    check_form("form", form)
    mse = frame_error(prediction, target).flatten(1).mean(dim=1).clamp_min(MSE_FLOOR)
    if form == "code":
        return 10 * torch.log10(1 / mse)
    peak = to_unit(prediction.float()).flatten(1).amax(dim=1)
    return 10 * torch.log10(peak**2 / mse)


def regular_score(prediction: Tensor, target: Tensor, form: Form = "code") -> Tensor:
    """Weighted regular score per frame, Eqs. 6-7, ``[B]``: ``eps_t = sum_ij W_ij e_ij`` with
    ``W_ij = (1 - exp(-e_ij)) / sum_ij (1 - exp(-e_ij))``; e is the squared error of every
    element on [0, 1] frames (``"code"``) or the per-pixel L2 norm over channels
    (``"paper"``). The memory is updated at test time when ``eps_t < γ``."""
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
def as_1d(name: str, values: np.ndarray | list | Tensor) -> np.ndarray:
    arr = values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)
    if arr.ndim == 2 and 1 in arr.shape:  # (1, N) or (N, 1), as label files often are
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise MNADError(f"{name} must have shape [N] (or (1, N)), got {arr.shape}")
    return arr


def check_same_length(**arrays: np.ndarray) -> None:
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


def normalize(
    values: np.ndarray, video_ids: np.ndarray, normalization: Normalization = "video"
) -> np.ndarray:
    """Eq. 17, the min-max forms: per test video (the paper's protocol) or once over all
    frames (``"global"``). The online form is :func:`mnad_lite.alerts.online.standardize`.

    Args:
        values: ``[N]`` per-frame values; video_ids: ``[N]`` video of each frame.
        normalization: ``"video"`` (paper) or ``"global"``.
    """
    values, video_ids = as_1d("values", values), as_1d("video_ids", video_ids)
    check_same_length(values=values, video_ids=video_ids)
    if normalization == "global":
        return minmax(values)
    if normalization != "video":
        raise MNADError(f"normalization must be 'video' or 'global', got {normalization!r}")
    out = np.empty(len(values), dtype=np.float64)
    for vid in np.unique(video_ids):  # one pass per video, vectorised inside
        sel = video_ids == vid
        out[sel] = minmax(values[sel])
    return out


def combine(
    psnr_part: np.ndarray, distance_part: np.ndarray | None, lambda_score: float
) -> np.ndarray:
    """Eq. 16 from its normalised terms: ``S_t = λ a_t + (1 - λ) b_t``, with ``a_t`` the
    PSNR term (higher = more anomalous) and ``b_t`` the distance term; ``b`` None (no
    memory): ``S_t = a_t`` (λ = 1). The one place Eq. 16 is written."""
    if not 0.0 <= lambda_score <= 1.0:
        raise MNADError(f"lambda_score must be in [0, 1], got {lambda_score}")
    if distance_part is None:
        return psnr_part
    return lambda_score * psnr_part + (1 - lambda_score) * distance_part


def memory_terms(
    distances: np.ndarray | None, lambda_score: float, has_memory: bool
) -> tuple[np.ndarray | None, float]:
    """``(D, λ)`` for Eq. 16: a model without memory has no feature distance, so its score
    is PSNR alone (``D`` None, λ = 1). The one place this rule is written."""
    return (distances, lambda_score) if has_memory else (None, 1.0)


def anomaly_score(
    psnr_values: np.ndarray,
    distances: np.ndarray | None,
    video_ids: np.ndarray,
    lambda_score: float = 0.6,
    normalization: Normalization = "video",
) -> np.ndarray:
    """Abnormality score, Eq. 16: ``S_t = λ (1 - g(P_t)) + (1 - λ) g(D_t)``.

    Args:
        psnr_values: P, ``[N]``; distances: D, ``[N]`` (None -> PSNR only, λ = 1).
        video_ids: ``[N]``; lambda_score: λ (0.6 pred, 0.7 recon in the code).
        normalization: g per video (Eq. 17, the paper) or over all frames at once.

    Returns:
        ``[N]`` anomaly scores, in [0, 1] for the min-max forms.
    """
    psnr_part = 1 - normalize(psnr_values, video_ids, normalization)
    distance_part = None if distances is None else normalize(distances, video_ids, normalization)
    return combine(psnr_part, distance_part, lambda_score)

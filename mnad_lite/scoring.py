"""Frame scores and their evaluation: Eqs. 6-7 and 14-17, AUC, EER, AP.

Tensor functions take frames in the network's range [-1, 1]:

- :func:`psnr` (Eq. 14), :func:`regular_score` (Eqs. 6-7) -> ``[B]`` per frame.

Array functions take one value per test frame, all test videos concatenated, with
``video_ids`` ``[N]`` saying which video each frame belongs to:

- :func:`minmax` / :func:`normalize` (Eq. 17), :func:`anomaly_score` (Eq. 16),
- :func:`frame_auc` (micro or macro), :func:`equal_error_rate`, :func:`average_precision`,
- :func:`evaluation_table`: every evaluation choice of MNAD.md section 6 side by side.

Labels are 1 for anomalous frames. Scores are anomaly scores: higher = more anomalous.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from torch import Tensor

from mnad_lite.errors import MNADError

Form = Literal["code", "paper"]
Normalization = Literal["video", "global"]
MSE_FLOOR = 1e-10  # keeps PSNR finite for a perfect prediction
#: The keys of :func:`evaluation_table`, in the order they are reported.
TABLE_KEYS = (
    "frame_auc",
    "frame_auc_global",
    "frame_auc_macro",
    "psnr_auc",
    "eer",
    "ap",
    "macro_videos_skipped",
)


def _check_frames(prediction: Tensor, target: Tensor) -> None:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise MNADError(
            f"prediction and target must both be [B, C, H, W], got {tuple(prediction.shape)} "
            f"and {tuple(target.shape)}"
        )


def to_unit(x: Tensor) -> Tensor:
    """Map frames from [-1, 1] to [0, 1]."""
    return (x + 1) / 2


def psnr(prediction: Tensor, target: Tensor, form: Form = "code") -> Tensor:
    """PSNR per frame, Eq. 14: ``10 log10(peak^2 / mse)``.

    Frames are rescaled to [0, 1] first. ``form="code"`` (authors' code, default) uses
    peak 1; ``form="paper"`` uses ``peak = max(Î_t)`` as printed.

    Args:
        prediction: Î, ``[B, C, H, W]`` in [-1, 1]; target: I, same shape.

    Returns:
        ``[B]`` PSNR in dB.
    """
    _check_frames(prediction, target)
    pred, tgt = to_unit(prediction.float()), to_unit(target.float())
    mse = ((pred - tgt) ** 2).flatten(1).mean(dim=1).clamp_min(MSE_FLOOR)
    if form == "code":
        return 10 * torch.log10(1 / mse)
    if form == "paper":
        peak = pred.flatten(1).amax(dim=1)
        return 10 * torch.log10(peak**2 / mse)
    raise MNADError(f"form must be 'code' or 'paper', got {form!r}")


def regular_score(prediction: Tensor, target: Tensor, form: Form = "code") -> Tensor:
    """Weighted regular score per frame, Eqs. 6-7: ``eps_t = sum_ij W_ij e_ij``.

    ``W_ij = (1 - exp(-e_ij)) / sum_ij (1 - exp(-e_ij))``. With ``form="code"`` (default)
    ``e`` is the squared error of every element (pixel and channel) on [0, 1] frames,
    as in the authors' code; with ``form="paper"`` it is the per-pixel L2 norm over
    channels, as printed. The memory is updated at test time when ``eps_t < gamma``.

    Returns:
        ``[B]`` scores.
    """
    _check_frames(prediction, target)
    diff = to_unit(prediction.float()) - to_unit(target.float())
    if form == "code":
        err = (diff**2).flatten(1)  # [B, C*H*W]
    elif form == "paper":
        err = diff.norm(dim=1).flatten(1)  # ||Î^{ij} - I^{ij}||_2   [B, H*W]
    else:
        raise MNADError(f"form must be 'code' or 'paper', got {form!r}")
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


def normalize(
    values: np.ndarray, video_ids: np.ndarray, normalization: Normalization = "video"
) -> np.ndarray:
    """Min-max per test video (Eq. 17, the paper's protocol) or once over all frames.

    Args:
        values: ``[N]`` per-frame values; video_ids: ``[N]`` video of each frame.
        normalization: ``"video"`` (paper) or ``"global"``.
    """
    values, video_ids = _as_1d("values", values), _as_1d("video_ids", video_ids)
    _check_same_length(values=values, video_ids=video_ids)
    if normalization == "global":
        return minmax(values)
    if normalization != "video":
        raise MNADError(f"normalization must be 'video' or 'global', got {normalization!r}")
    out = np.empty(len(values), dtype=np.float64)
    for vid in np.unique(video_ids):  # one pass per video, vectorised inside
        sel = video_ids == vid
        out[sel] = minmax(values[sel])
    return out


def anomaly_score(
    psnr_values: np.ndarray,
    distances: np.ndarray | None,
    video_ids: np.ndarray,
    lam: float = 0.6,
    normalization: Normalization = "video",
) -> np.ndarray:
    """Abnormality score, Eq. 16: ``S_t = lam (1 - g(P_t)) + (1 - lam) g(D_t)``.

    Args:
        psnr_values: P, ``[N]``; distances: D, ``[N]`` (None -> PSNR only, lam = 1).
        video_ids: ``[N]``; lam: the weight lambda (0.6 pred, 0.7 recon in the code).
        normalization: g per video (Eq. 17) or over all frames at once.

    Returns:
        ``[N]`` anomaly scores in [0, 1].
    """
    if not 0.0 <= lam <= 1.0:
        raise MNADError(f"lam must be in [0, 1], got {lam}")
    psnr_part = 1 - normalize(psnr_values, video_ids, normalization)
    if distances is None:
        return psnr_part
    return lam * psnr_part + (1 - lam) * normalize(distances, video_ids, normalization)


def _check_labels(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = _as_1d("scores", scores), _as_1d("labels", labels)
    _check_same_length(scores=scores, labels=labels)
    if not np.isin(labels, (0, 1)).all():
        raise MNADError("labels must be 0 (normal) or 1 (anomalous)")
    return scores.astype(np.float64), labels.astype(np.int64)


def frame_auc(
    scores: np.ndarray,
    labels: np.ndarray,
    video_ids: np.ndarray | None = None,
    average: Literal["micro", "macro"] = "micro",
    single_class: Literal["skip", "error"] = "skip",
) -> float:
    """Frame-level ROC AUC.

    ``average="micro"``: one ROC over all frames concatenated (the paper's number).
    ``average="macro"``: the mean of per-video AUCs; AUC is undefined on a video whose
    frames are all normal or all anomalous: ``single_class="skip"`` leaves those videos
    out (see :func:`single_class_videos`), ``"error"`` raises. NaN when nothing is left.
    """
    scores, labels = _check_labels(scores, labels)
    if average == "micro":
        if labels.min() == labels.max():
            raise MNADError("frame AUC needs both normal and anomalous frames")
        return float(roc_auc_score(labels, scores))
    if average != "macro":
        raise MNADError(f"average must be 'micro' or 'macro', got {average!r}")
    if video_ids is None:
        raise MNADError("macro AUC needs video_ids")
    video_ids = _as_1d("video_ids", video_ids)
    _check_same_length(scores=scores, video_ids=video_ids)
    aucs = []
    for vid in np.unique(video_ids):
        sel = video_ids == vid
        if labels[sel].min() == labels[sel].max():
            if single_class == "error":
                raise MNADError(f"video {vid} has one class only: its AUC is undefined")
            continue
        aucs.append(roc_auc_score(labels[sel], scores[sel]))
    return float(np.mean(aucs)) if aucs else math.nan


def single_class_videos(labels: np.ndarray, video_ids: np.ndarray) -> list:
    """Videos whose frames are all normal or all anomalous (left out of macro AUC)."""
    labels, video_ids = _as_1d("labels", labels), _as_1d("video_ids", video_ids)
    _check_same_length(labels=labels, video_ids=video_ids)
    return [v for v in np.unique(video_ids) if np.unique(labels[video_ids == v]).size == 1]


def equal_error_rate(scores: np.ndarray, labels: np.ndarray) -> float:
    """EER: the error rate where the false positive rate equals the miss rate."""
    scores, labels = _check_labels(scores, labels)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def eer_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The score threshold at the EER point (for illustration; never tune it on test labels)."""
    scores, labels = _check_labels(scores, labels)
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    return float(thresholds[int(np.nanargmin(np.abs(1 - tpr - fpr)))])


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision with anomalous frames as the positive class."""
    scores, labels = _check_labels(scores, labels)
    return float(average_precision_score(labels, scores))


def evaluation_table(
    psnr_values: np.ndarray,
    distances: np.ndarray | None,
    labels: np.ndarray,
    video_ids: np.ndarray,
    lam: float = 0.6,
) -> dict[str, float]:
    """Every evaluation choice of MNAD.md section 6, side by side.

    Keys: ``frame_auc`` (micro after per-video min-max: the paper's number),
    ``frame_auc_global`` (micro after one global min-max), ``frame_auc_macro``
    (mean per-video AUC, single-class videos left out), ``psnr_auc`` (PSNR only,
    per-video min-max), ``eer``, ``ap`` (on the paper's score), ``macro_videos_skipped``.
    """
    per_video = anomaly_score(psnr_values, distances, video_ids, lam, "video")
    global_ = anomaly_score(psnr_values, distances, video_ids, lam, "global")
    psnr_only = anomaly_score(psnr_values, None, video_ids, 1.0, "video")
    return {
        "frame_auc": frame_auc(per_video, labels),
        "frame_auc_global": frame_auc(global_, labels),
        "frame_auc_macro": frame_auc(per_video, labels, video_ids, "macro"),
        "psnr_auc": frame_auc(psnr_only, labels),
        "eer": equal_error_rate(per_video, labels),
        "ap": average_precision(per_video, labels),
        "macro_videos_skipped": float(len(single_class_videos(labels, video_ids))),
    }

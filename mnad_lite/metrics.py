"""How frame scores are judged against ground truth: AUCs, EER, AP, pixel AUC, per kind.

Every evaluation choice of MNAD.md section 6 side by side: :func:`evaluation_table`.
Labels are 1 for anomalous frames; scores are anomaly scores, higher = more anomalous.
Thresholded decisions and alarms are :mod:`mnad_lite.alerts.alarms`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from mnad_lite.errors import MNADError
from mnad_lite.scoring import anomaly_score, as_1d, check_same_length

#: The keys of :func:`evaluation_table`, in the order they are reported.
TABLE_KEYS = (
    "frame_auc",
    "frame_auc_global",
    "frame_auc_macro",
    "psnr_auc",
    "distance_auc",
    "eer",
    "ap",
    "macro_videos_skipped",
)
MAX_PIXELS = 20_000_000  # pixel AUC subsamples frames beyond this many pixels


def check_labels(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = as_1d("scores", scores), as_1d("labels", labels)
    check_same_length(scores=scores, labels=labels)
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
    """Frame-level ROC AUC: one ROC over all frames (``"micro"``, the paper's number) or the
    mean of per-video AUCs (``"macro"``), undefined on a video of one class, which
    ``single_class="skip"`` leaves out (:func:`single_class_videos`; NaN when none is
    left) and ``"error"`` refuses."""
    scores, labels = check_labels(scores, labels)
    if average == "micro":
        if labels.min() == labels.max():
            raise MNADError("frame AUC needs both normal and anomalous frames")
        return rank_auc(labels, scores)
    if average != "macro":
        raise MNADError(f"average must be 'micro' or 'macro', got {average!r}")
    if video_ids is None:
        raise MNADError("macro AUC needs video_ids")
    video_ids = as_1d("video_ids", video_ids)
    check_same_length(scores=scores, video_ids=video_ids)
    aucs = []
    for vid in np.unique(video_ids):
        sel = video_ids == vid
        if labels[sel].min() == labels[sel].max():
            if single_class == "error":
                raise MNADError(f"video {vid} has one class only: its AUC is undefined")
            continue
        aucs.append(rank_auc(labels[sel], scores[sel]))
    return float(np.mean(aucs)) if aucs else math.nan


def single_class_videos(labels: np.ndarray, video_ids: np.ndarray) -> list:
    """Videos whose frames are all normal or all anomalous (left out of macro AUC)."""
    labels, video_ids = as_1d("labels", labels), as_1d("video_ids", video_ids)
    check_same_length(labels=labels, video_ids=video_ids)
    return [v for v in np.unique(video_ids) if np.unique(labels[video_ids == v]).size == 1]


def _eer_point(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """(false positive rate, miss rate, threshold) where the two rates are closest."""
    from sklearn.metrics import roc_curve

    scores, labels = check_labels(scores, labels)
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float(fpr[i]), float(fnr[i]), float(thresholds[i])


def equal_error_rate(scores: np.ndarray, labels: np.ndarray) -> float:
    """EER: the error rate where the false positive rate equals the miss rate."""
    fpr, fnr, _ = _eer_point(scores, labels)
    return (fpr + fnr) / 2


def eer_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The score threshold at the EER point (for illustration; never tune it on test labels)."""
    return _eer_point(scores, labels)[2]


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision with anomalous frames as the positive class."""
    from sklearn.metrics import average_precision_score

    scores, labels = check_labels(scores, labels)
    return float(average_precision_score(labels, scores))


#: The scores judged per anomaly kind: the key in :func:`evaluation_table` of each.
TERMS = ("frame_auc", "frame_auc_global", "psnr_auc", "distance_auc")


def term_scores(
    psnr_values: np.ndarray,
    distances: np.ndarray | None,
    video_ids: np.ndarray,
    lambda_score: float = 0.6,
) -> dict[str, np.ndarray]:
    """The scores behind each AUC of :data:`TERMS`, ``[N]`` each: Eq. 16 with per-video
    (``frame_auc``) or global (``frame_auc_global``) min-max, PSNR only (``psnr_auc``)
    and D only (``distance_auc``, absent without distances), both per-video min-max."""
    out = {
        "frame_auc": anomaly_score(psnr_values, distances, video_ids, lambda_score, "video"),
        "frame_auc_global": anomaly_score(
            psnr_values, distances, video_ids, lambda_score, "global"
        ),
        "psnr_auc": anomaly_score(psnr_values, None, video_ids, 1.0, "video"),
    }
    if distances is not None:
        out["distance_auc"] = anomaly_score(psnr_values, distances, video_ids, 0.0, "video")
    return out


def evaluation_table(
    psnr_values: np.ndarray,
    distances: np.ndarray | None,
    labels: np.ndarray,
    video_ids: np.ndarray,
    lambda_score: float = 0.6,
) -> dict[str, float]:
    """Every evaluation choice of MNAD.md section 6, side by side.

    Keys: ``frame_auc`` (micro after per-video min-max: the paper's number),
    ``frame_auc_global`` (micro after one global min-max), ``frame_auc_macro``
    (mean per-video AUC, single-class videos left out), ``psnr_auc`` (PSNR only,
    per-video min-max), ``distance_auc`` (D only, per-video min-max; None without
    distances), ``eer``, ``ap`` (on the paper's score), ``macro_videos_skipped``.
    """
    terms = term_scores(psnr_values, distances, video_ids, lambda_score)
    per_video = terms["frame_auc"]
    return {
        "frame_auc": frame_auc(per_video, labels),
        "frame_auc_global": frame_auc(terms["frame_auc_global"], labels),
        "frame_auc_macro": frame_auc(per_video, labels, video_ids, "macro"),
        "psnr_auc": frame_auc(terms["psnr_auc"], labels),
        "distance_auc": (
            frame_auc(terms["distance_auc"], labels) if "distance_auc" in terms else None
        ),
        "eer": equal_error_rate(per_video, labels),
        "ap": average_precision(per_video, labels),
        "macro_videos_skipped": float(len(single_class_videos(labels, video_ids))),
    }


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) identity, ties counted half.

    Equal to scikit-learn's ``roc_auc_score`` and fast enough to bootstrap. Needs both
    classes in ``labels`` (0/1 ``[N]``).
    """
    from scipy.stats import rankdata

    pos = np.asarray(labels) == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        raise MNADError("AUC needs both normal and anomalous frames")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def pixel_auc(error_maps: np.ndarray, masks: np.ndarray) -> float | None:
    """Pixel-level ROC AUC of error maps ``[N, h, w]`` against masks ``[N, h, w]``.

    None when the masks hold one class only. Beyond :data:`MAX_PIXELS` pixels, every
    k-th frame is used (a deterministic subsample).
    """
    from sklearn.metrics import roc_auc_score

    if error_maps.shape != masks.shape or error_maps.ndim != 3:
        raise MNADError(
            f"error maps and masks must both be [N, h, w], got {error_maps.shape} and {masks.shape}"
        )
    step = max(1, int(np.ceil(masks.size / MAX_PIXELS)))
    truth = masks[::step].reshape(-1).astype(np.uint8)
    pred = error_maps[::step].reshape(-1).astype(np.float32)
    if truth.min() == truth.max():
        return None
    return float(roc_auc_score(truth, pred))


def per_kind_auc(
    scores: np.ndarray,
    labels: np.ndarray,
    video_names: Sequence[str],
    frame_index: np.ndarray,
    events: Sequence[Any],
) -> dict[str, dict[str, float]]:
    """Frame AUC of each anomaly kind, its frames against all normal frames. Per frame
    ``[N]``: scores, labels, video name and index in its video; ``events`` have ``video``,
    ``kind``, ``start`` and ``end`` (inclusive), as the synthetic manifest's do."""
    names = np.asarray(video_names)
    kinds = np.full(len(scores), "", dtype=object)
    for ev in events:
        sel = (names == ev.video) & (frame_index >= ev.start) & (frame_index <= ev.end)
        kinds[sel] = ev.kind
    out = {}
    normal = labels == 0
    for kind in sorted({k for k in kinds if k}):
        mine = kinds == kind
        if normal.any() and mine.any():
            sel = normal | mine
            out[kind] = {"auc": frame_auc(scores[sel], labels[sel]), "frames": int(mine.sum())}
    return out

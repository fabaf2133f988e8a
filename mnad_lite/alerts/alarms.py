"""Decisions at a threshold, as an operator sees them: precision, recall and F1 of flagged
frames; alarms (runs of flagged frames), false alarms per minute of video, events found."""

from __future__ import annotations

import math

import numpy as np

from mnad_lite.errors import MNADError
from mnad_lite.metrics import check_labels
from mnad_lite.scoring import as_1d, check_same_length


def decision_metrics(flagged: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of thresholded decisions ``[N]`` bool against labels."""
    tp = int((flagged & (labels == 1)).sum())
    precision = tp / max(int(flagged.sum()), 1)
    recall = tp / max(int((labels == 1).sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


#: Frame rate assumed when the video source does not say (UCSD Ped2 and the synthetic
#: benchmark are 10 frames per second).
DEFAULT_FPS = 10.0


def flag_runs(
    flagged: np.ndarray, video_ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Maximal runs of consecutive True rows of ``flagged`` ``[N]`` within each video.

    Rows of one video must be its consecutive scored frames (``FrameScores`` order).
    Returns (first row, last row) ``[R]`` each, inclusive, in row order.
    """
    f = as_1d("flagged", flagged).astype(bool)
    v = np.zeros(len(f), np.int64) if video_ids is None else as_1d("video_ids", video_ids)
    check_same_length(flagged=f, video_ids=v)
    if not f.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new_video = np.r_[True, v[1:] != v[:-1]]
    start = f & (new_video | ~np.r_[False, f[:-1]])
    end = f & (np.r_[new_video[1:], True] | ~np.r_[f[1:], False])
    return np.flatnonzero(start), np.flatnonzero(end)


def alarm_metrics(
    flagged: np.ndarray,
    labels: np.ndarray,
    video_ids: np.ndarray | None = None,
    fps: float = DEFAULT_FPS,
) -> dict[str, float]:
    """What an operator sees at a threshold: alarms, false alarms per minute, events found.

    - an **alarm** is a maximal run of consecutive flagged frames of one video
      (:func:`flag_runs`); a **false alarm** is an alarm without a single anomalous frame;
    - ``false_alarms_per_minute`` = false alarms / minutes of scored video (N / fps / 60);
    - ``false_alarm_frames`` = flagged normal frames (the frame-level count, also per minute);
    - a ground-truth **event** is a maximal run of anomalous frames of one video; it is
      ``detected`` when at least one of its frames is flagged.

    Args: flagged, labels, video_ids: ``[N]``; fps: frames per second of the video.
    """
    flagged = as_1d("flagged", flagged).astype(bool)
    labels = as_1d("labels", labels)
    _, labels = check_labels(np.zeros(len(labels)), labels)
    check_same_length(flagged=flagged, labels=labels)
    if not fps > 0:
        raise MNADError(f"fps must be > 0, got {fps}")
    starts, ends = flag_runs(flagged, video_ids)
    anomalous_before = np.r_[0, np.cumsum(labels)]  # anomalous rows before each row
    with_anomaly = anomalous_before[ends + 1] - anomalous_before[starts] > 0
    g_starts, g_ends = flag_runs(labels == 1, video_ids)
    flagged_before = np.r_[0, np.cumsum(flagged)]
    found = flagged_before[g_ends + 1] - flagged_before[g_starts] > 0
    minutes = len(flagged) / fps / 60
    false_alarms = int((~with_anomaly).sum())
    false_frames = int((flagged & (labels == 0)).sum())
    return {
        "alarms": int(len(starts)),
        "false_alarms": false_alarms,
        "false_alarms_per_minute": false_alarms / minutes if minutes else math.nan,
        "false_alarm_frames": false_frames,
        "false_alarm_frames_per_minute": false_frames / minutes if minutes else math.nan,
        "events": int(len(g_starts)),
        "events_detected": int(found.sum()),
        "minutes": minutes,
        "video_fps": float(fps),
    }

"""The files of an evaluation: ``scores.csv`` (one row per frame) and ``eval.json``.

``scores.csv`` columns: ``video, frame, label, psnr, feature_distance, regular_score,
memory_updated, score, score_global`` (+ ``score_online`` with a calibration, + ``flagged``
with a threshold): the inputs of Eq. 16 and the scores, so every number in ``eval.json``
can be recomputed from it (:func:`read_scores_csv`). Files are written atomically (a
reader never sees half).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from mnad_lite.errors import DataError
from mnad_lite.files import write_json, write_text_atomic

__all__ = [
    "SCORE_COLUMNS",
    "read_scores_csv",
    "write_json",
    "write_scores_csv",
    "write_text_atomic",
]

SCORE_COLUMNS = (
    "video",
    "frame",
    "label",
    "psnr",
    "feature_distance",
    "regular_score",
    "memory_updated",
    "score",
    "score_global",
)


def write_scores_csv(
    path: str | Path,
    scores: Any,
    final: np.ndarray,
    glob: np.ndarray,
    flagged: np.ndarray | None = None,
    online: np.ndarray | None = None,
) -> Path:
    """One row per scored frame (a :class:`~mnad_lite.engine.inference.FrameScores`)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    extra = (("score_online",) if online is not None else ()) + (
        ("flagged",) if flagged is not None else ()
    )
    writer.writerow(SCORE_COLUMNS + extra)
    names = scores.video_names
    for i in range(len(scores)):
        row = [
            names[i],
            int(scores.frame_index[i]),
            "" if scores.labels is None else int(scores.labels[i]),
            repr(float(scores.psnr[i])),
            repr(float(scores.distance[i])),
            repr(float(scores.regular[i])),
            int(scores.updated[i]),
            repr(float(final[i])),
            repr(float(glob[i])),
        ]
        if online is not None:
            row.append(f"{online[i]:.6f}")
        writer.writerow(row + ([int(flagged[i])] if flagged is not None else []))
    return write_text_atomic(path, buf.getvalue())


def read_scores_csv(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of a ``scores.csv`` as arrays (``label`` -1 where unlabelled)."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as err:
        raise DataError(f"{path}: cannot read the scores ({err.strerror})") from None
    if rows and not set(SCORE_COLUMNS) <= set(rows[0]):
        raise DataError(f"{path}: not a scores.csv (columns {sorted(rows[0])})")
    out: dict[str, np.ndarray] = {
        "video": np.array([r["video"] for r in rows], dtype=object),
        "frame": np.array([int(r["frame"]) for r in rows], dtype=np.int64),
        "label": np.array([int(r["label"]) if r["label"] else -1 for r in rows], np.int64),
        "memory_updated": np.array([int(r["memory_updated"]) for r in rows], dtype=bool),
    }
    for key in ("psnr", "feature_distance", "regular_score", "score", "score_global"):
        out[key] = np.array([float(r[key]) for r in rows], dtype=np.float64)
    if rows and "score_online" in rows[0]:
        out["score_online"] = np.array([float(r["score_online"]) for r in rows], np.float64)
    if rows and "flagged" in rows[0]:
        out["flagged"] = np.array([int(r["flagged"]) for r in rows], dtype=bool)
    return out

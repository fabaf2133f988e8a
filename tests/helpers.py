"""Checks shared by the pipeline tests (imported as ``from helpers import ...``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def recompute_report(folder: Path) -> dict:
    """The AUC choices of ``folder/eval.json`` computed again from ``folder/scores.csv``
    alone, with scikit-learn's ROC AUC as an independent reference."""
    import json

    import numpy as np
    from sklearn.metrics import roc_auc_score

    from mnad_lite.metrics import evaluation_table
    from mnad_lite.research.summary import read_scores_csv

    cols = read_scores_csv(folder / "scores.csv")
    saved = json.loads((folder / "eval.json").read_text())
    ids = np.unique(cols["video"], return_inverse=True)[1]
    has_memory = saved["lambda_score"] < 1.0
    table = evaluation_table(
        cols["psnr"],
        cols["feature_distance"] if has_memory else None,
        cols["label"],
        ids,
        saved["lambda_score"],
    )
    table["sklearn_frame_auc"] = float(roc_auc_score(cols["label"], cols["score"]))
    table["sklearn_global_auc"] = float(roc_auc_score(cols["label"], cols["score_global"]))
    return table


def assert_report_matches_scores(folder: Path) -> None:
    """Every AUC in eval.json equals its recomputation from scores.csv."""
    import json

    import pytest

    saved = json.loads((folder / "eval.json").read_text())
    again = recompute_report(folder)
    for key in ("frame_auc", "frame_auc_global", "frame_auc_macro", "psnr_auc", "eer", "ap"):
        assert saved[key] == pytest.approx(again[key], abs=1e-6), key
    if again["distance_auc"] is None:  # no memory: no D
        assert saved["distance_auc"] is None
    else:
        assert saved["distance_auc"] == pytest.approx(again["distance_auc"], abs=1e-6)
    # the CSV holds every value exactly (repr), so the two computations agree closely
    assert saved["frame_auc"] == pytest.approx(again["sklearn_frame_auc"], abs=1e-9)
    assert saved["frame_auc_global"] == pytest.approx(again["sklearn_global_auc"], abs=1e-9)


def assert_png(path: str | Path, min_side: int = 100) -> None:
    """``path`` is a PNG file that decodes to a picture at least ``min_side`` pixels wide."""
    import cv2

    path = Path(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    img = cv2.imread(str(path))
    assert img is not None and min(img.shape[:2]) >= min_side, (
        f"{path}: {None if img is None else img.shape}"
    )
    assert img.std() > 1.0, f"{path} is blank"


def score_events(frames, scores, flagged) -> list[dict]:
    """Reference: the events of a whole score sequence at once (``[N]`` each, consecutive
    frames), from the runs of flagged frames; what EventTracker must find frame by frame."""
    from mnad_lite.alerts.alarms import flag_runs

    frames, scores = np.asarray(frames), np.asarray(scores, dtype=np.float64)
    starts, ends = flag_runs(np.asarray(flagged, dtype=bool))
    out = []
    for s, e in zip(starts, ends, strict=True):
        peak = s + int(np.argmax(scores[s : e + 1]))
        out.append(
            {
                "start": int(frames[s]),
                "end": int(frames[e]),
                "peak_score": float(scores[peak]),
                "peak_frame": int(frames[peak]),
            }
        )
    return out


def read_events_csv(path) -> list[dict]:
    """The events of an ``events.csv`` (start, end, peak_score, peak_frame)."""
    import csv

    with open(path, newline="") as fh:
        return [
            {
                "start": int(r["start"]),
                "end": int(r["end"]),
                "peak_score": float(r["peak_score"]),
                "peak_frame": int(r["peak_frame"]),
            }
            for r in csv.DictReader(fh)
        ]

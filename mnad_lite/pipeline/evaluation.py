"""An evaluation, end to end: load a run, score the test videos, judge, write, draw.

``evaluate(run, data)`` = :func:`mnad_lite.engine.inference.score_videos` (the scores),
:func:`build_report` (every evaluation choice of MNAD.md section 6, from
:mod:`mnad_lite.metrics`), then ``RUN/scores.csv``, ``RUN/eval.json`` and
``RUN/figures/`` (:mod:`mnad_lite.report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnad_lite.engine.config import Config
from mnad_lite.engine.inference import FrameScores, load_run, score_videos
from mnad_lite.engine.runtime import pick_device
from mnad_lite.errors import DataError
from mnad_lite.metrics import (
    TABLE_KEYS,
    decision_metrics,
    evaluation_table,
    per_kind_auc,
    pixel_auc,
    term_scores,
)
from mnad_lite.report.results import write_json, write_scores_csv
from mnad_lite.scoring import anomaly_score


def final_scores(
    scores: FrameScores, config: Config, has_memory: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """(S_t with per-video min-max, S_t with one global min-max, λ) of Eq. 16.

    Without memory there is no feature distance: the score is PSNR alone (λ = 1).
    """
    distances = scores.distance if has_memory else None
    lam = config.lambda_score if has_memory else 1.0
    final = anomaly_score(scores.psnr, distances, scores.video_ids, lam, "video")
    glob = anomaly_score(scores.psnr, distances, scores.video_ids, lam, "global")
    return final, glob, lam


def masks_of(scores: FrameScores, videos: list) -> np.ndarray | None:
    """The pixel masks of the scored frames at the error maps' size, or None."""
    if not videos or not all(getattr(v, "has_masks", False) for v in videos):
        return None
    h, w = scores.error_maps.shape[1:]
    parts = [
        v.masks(size=(h, w))[scores.frame_index[scores.video_ids == i]]
        for i, v in enumerate(videos)
    ]
    return np.concatenate(parts)


def build_report(
    scores: FrameScores, config: Config, has_memory: bool, videos: list, events: list
) -> dict[str, Any]:
    """The numbers of ``eval.json``: AUC choices, pixel AUC, per-kind AUC, counts.

    ``per_kind_auc`` judges the paper's score (per-video min-max); ``per_kind_auc_terms``
    judges every score of :data:`mnad_lite.metrics.TERMS` the same way (empty per kind
    when there is no ground truth or no synthetic manifest).
    """
    final, _, lam = final_scores(scores, config, has_memory)
    distances = scores.distance if has_memory else None
    labels = scores.labels
    if labels is not None and 0 < labels.sum() < len(scores):
        report: dict[str, Any] = evaluation_table(
            scores.psnr, distances, labels, scores.video_ids, lam
        )
        masks = masks_of(scores, videos)
        report["pixel_auc"] = None if masks is None else pixel_auc(scores.error_maps, masks)
        report["per_kind_auc"] = per_kind_auc(
            final, labels, scores.video_names, scores.frame_index, events
        )
        report["per_kind_auc_terms"] = {  # which term detects which kind
            term: per_kind_auc(s, labels, scores.video_names, scores.frame_index, events)
            for term, s in term_scores(scores.psnr, distances, scores.video_ids, lam).items()
        }
    else:  # no ground truth (your own footage) or one class only: scores, no AUCs
        report = {
            **dict.fromkeys(TABLE_KEYS),
            "pixel_auc": None,
            "per_kind_auc": {},
            "per_kind_auc_terms": {},
        }
    report.update(
        memory_updates=int(scores.updated.sum()),
        frames=len(scores),
        anomalous_frames=None if labels is None else int(labels.sum()),
        videos=len(scores.videos),
        lambda_score=lam,
        gamma=config.gamma,
        forms={f: getattr(config, f) for f in ("psnr_form", "score_form", "distance_form")},
        fps=len(scores) / max(scores.seconds, 1e-9),
    )
    return report


def evaluate(
    run: str | Path,
    data: str | Path | Any,
    test_update: bool | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    figures: bool = True,
    progress: bool = True,
    threshold: float | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Score the test videos of ``data`` with the model of ``run``; write the results.

    ``threshold`` flags frames whose final score (Eq. 16, per-video min-max) is at least
    that value: ``scores.csv`` gets a ``flagged`` column and, with labels, the report
    gets precision, recall and F1 at that threshold. Choose it before looking at test
    labels (e.g. from held-out normal footage); never tune it on them.

    ``out`` is the folder for the results (default: the run folder), so several
    evaluation settings of one run can sit side by side.

    Returns the report written to ``eval.json`` (see
    :func:`mnad_lite.metrics.evaluation_table` for the AUC keys), plus ``pixel_auc``,
    ``per_kind_auc``, frame counts, the memory updates made and the throughput.
    """
    from mnad_lite.data import open_dataset

    run = Path(run)
    dev = pick_device(device)
    model, config = load_run(run, dev)
    dataset = open_dataset(data) if isinstance(data, (str, Path)) else data
    videos = list(dataset.test)
    if not videos:
        raise DataError(f"{dataset.root}: no test videos")
    unlabelled = [v.name for v in videos if v.labels is None]
    if unlabelled and len(unlabelled) < len(videos):
        raise DataError(f"{dataset.root}: test video {unlabelled[0]} has no frame labels")
    update = config.test_update if test_update is None else test_update
    scores = score_videos(model, videos, config, update, batch_size, dev, progress)
    has_memory = model.memory is not None
    report = build_report(scores, config, has_memory, videos, getattr(dataset, "events", []))
    report.update(
        test_update=bool(update and has_memory),
        device=str(dev),
        data=str(dataset.root),
        label_source=getattr(dataset, "label_source", None),
        run=str(run),
    )
    final, glob, _ = final_scores(scores, config, has_memory)
    flagged = None if threshold is None else final >= threshold
    if flagged is not None:
        report["threshold"] = threshold
        report["flagged_frames"] = int(flagged.sum())
        if scores.labels is not None:
            report.update(decision_metrics(flagged, scores.labels))
    out = run if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_scores_csv(out / "scores.csv", scores, final, glob, flagged)
    if figures:
        from mnad_lite.report import figures as figs

        fig_dir = out / "figures"
        fig_dir.mkdir(exist_ok=True)
        report["figures"] = [str(p) for p in figs.score_curves(scores, final, fig_dir)] + [
            str(figs.error_maps(scores, final, videos, config, fig_dir / "error_maps.png"))
        ]
    write_json(out / "eval.json", report)
    return report

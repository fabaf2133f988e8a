"""The paper's evaluation protocol: score a run's test videos (Eqs. 6-7, 14-15), judge S_t
(Eq. 16) by every choice of MNAD.md section 6, write ``scores.csv``, ``eval.json`` and
``figures/``. The command line adds alerts (:mod:`mnad_lite.alerts.evaluation`)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnad_lite.data import open_dataset
from mnad_lite.engine.config import Config
from mnad_lite.engine.figures import error_maps, score_curves
from mnad_lite.engine.inference import FrameScores, load_run, score_videos
from mnad_lite.errors import DataError
from mnad_lite.files import write_json, write_text_atomic
from mnad_lite.metrics import TABLE_KEYS, evaluation_table, per_kind_auc, pixel_auc, term_scores
from mnad_lite.model import MNAD
from mnad_lite.scoring import anomaly_score, memory_terms

#: ``scores.csv``: frame, Eq. 16's inputs, scores (+ ``score_online``, ``flagged`` if any).
SCORE_COLUMNS = (
    *("video", "frame", "label"),
    *("psnr", "feature_distance", "regular_score", "memory_updated"),
    *("score", "score_global"),
)


@dataclass
class TestRun:
    """A run's model and the dataset whose test videos it is judged on."""

    __test__ = False  # not a pytest class

    run: Path
    model: MNAD
    config: Config
    device: torch.device
    dataset: Any
    videos: list

    @property
    def has_memory(self) -> bool:
        return self.model.memory is not None

    @property
    def events(self) -> list:
        """The synthetic manifest's events (empty for other datasets)."""
        return getattr(self.dataset, "events", [])


def open_test(run: str | Path, data: str | Path | Any, device: str = "auto") -> TestRun:
    """Load ``run`` and the test videos of ``data`` (a path or an opened dataset). Raises
    load_run's errors, and DataError when there are no test videos or some lack labels."""
    run = Path(run)
    model, config = load_run(run, device)
    dataset = open_dataset(data) if isinstance(data, (str, Path)) else data
    videos = list(dataset.test)
    if not videos:
        raise DataError(f"{dataset.root}: no test videos")
    unlabelled = [v.name for v in videos if v.labels is None]
    if unlabelled and len(unlabelled) < len(videos):
        raise DataError(f"{dataset.root}: test video {unlabelled[0]} has no frame labels")
    return TestRun(run, model, config, next(model.parameters()).device, dataset, videos)


def score_test(
    test: TestRun, test_update: bool | None, batch_size: int | None, progress: bool
) -> tuple[FrameScores, dict[str, Any]]:
    """The test videos' scores (``test_update``: the configuration's unless given), and
    where they came from (``test_update``, device, data, label source, run)."""
    update = test.config.test_update if test_update is None else test_update
    scores = score_videos(
        test.model, test.videos, test.config, update, batch_size, test.device, progress
    )
    return scores, {
        "test_update": bool(update and test.has_memory),
        "device": str(test.device),
        "data": str(test.dataset.root),
        "label_source": getattr(test.dataset, "label_source", None),
        "run": str(test.run),
    }


def final_scores(
    scores: FrameScores, config: Config, has_memory: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """(S_t with per-video min-max, S_t with one global min-max, λ) of Eq. 16."""
    distances, lam = memory_terms(scores.distance, config.lambda_score, has_memory)
    final = anomaly_score(scores.psnr, distances, scores.video_ids, lam, "video")
    glob = anomaly_score(scores.psnr, distances, scores.video_ids, lam, "global")
    return final, glob, lam


def masks_of(scores: FrameScores, videos: list) -> np.ndarray | None:
    """The pixel masks of the scored frames at the error maps' size, or None."""
    if not videos or not all(getattr(v, "has_masks", False) for v in videos):
        return None
    h, w = scores.error_maps.shape[1:]
    frames = [scores.frame_index[scores.video_ids == i] for i in range(len(videos))]
    return np.concatenate([v.masks(size=(h, w))[t] for v, t in zip(videos, frames, strict=True)])


def has_ground_truth(scores: FrameScores) -> bool:
    """Frame labels with both classes present (else there is no AUC to compute)."""
    return scores.labels is not None and 0 < scores.labels.sum() < len(scores)


def paper_report(
    scores: FrameScores, config: Config, has_memory: bool, videos: list, events: list
) -> dict[str, Any]:
    """The numbers of ``eval.json``: the AUC choices, pixel AUC, per-kind AUC of the paper's
    score and of each of :data:`mnad_lite.metrics.TERMS`, counts."""
    final, _, lam = final_scores(scores, config, has_memory)
    distances, _ = memory_terms(scores.distance, lam, has_memory)
    labels = scores.labels
    if has_ground_truth(scores):
        report: dict[str, Any] = evaluation_table(
            scores.psnr, distances, labels, scores.video_ids, lam
        )
        masks = masks_of(scores, videos)
        report["pixel_auc"] = None if masks is None else pixel_auc(scores.error_maps, masks)
        names, frames = scores.video_names, scores.frame_index
        report["per_kind_auc"] = per_kind_auc(final, labels, names, frames, events)
        report["per_kind_auc_terms"] = {  # which term detects which kind
            term: per_kind_auc(s, labels, names, frames, events)
            for term, s in term_scores(scores.psnr, distances, scores.video_ids, lam).items()
        }
    else:  # no ground truth (your own footage) or one class only: scores, no AUCs
        report = dict.fromkeys((*TABLE_KEYS, "pixel_auc"))
        report.update(per_kind_auc={}, per_kind_auc_terms={})
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


def write_scores_csv(
    path: Path,
    scores: FrameScores,
    final: np.ndarray,
    glob: np.ndarray,
    flagged: np.ndarray | None = None,
    online: np.ndarray | None = None,
) -> Path:
    """One row per scored frame, floats exact: ``eval.json`` can be recomputed from it."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    optional = {"score_online": online, "flagged": flagged}
    writer.writerow([*SCORE_COLUMNS, *(k for k, v in optional.items() if v is not None)])
    names = scores.video_names
    for i in range(len(scores)):
        label = "" if scores.labels is None else int(scores.labels[i])
        row = [names[i], int(scores.frame_index[i]), label]
        row += [repr(float(x[i])) for x in (scores.psnr, scores.distance, scores.regular)]
        row += [int(scores.updated[i]), repr(float(final[i])), repr(float(glob[i]))]
        if online is not None:
            row.append(f"{online[i]:.6f}")
        writer.writerow(row + ([int(flagged[i])] if flagged is not None else []))
    return write_text_atomic(path, buf.getvalue())


def write_results(
    out: Path,
    test: TestRun,
    scores: FrameScores,
    report: dict[str, Any],
    figures: bool,
    flagged: np.ndarray | None = None,
    online: np.ndarray | None = None,
) -> dict[str, Any]:
    """``OUT/scores.csv``, ``OUT/figures/`` (when ``figures``) and ``OUT/eval.json``."""
    final, glob, _ = final_scores(scores, test.config, test.has_memory)
    out.mkdir(parents=True, exist_ok=True)
    write_scores_csv(out / "scores.csv", scores, final, glob, flagged, online)
    if figures:
        fig_dir = out / "figures"
        fig_dir.mkdir(exist_ok=True)
        maps = error_maps(scores, final, test.videos, test.config, fig_dir / "error_maps.png")
        report["figures"] = [str(p) for p in [*score_curves(scores, final, fig_dir), maps]]
    write_json(out / "eval.json", report)
    return report


def evaluate(
    run: str | Path,
    data: str | Path | Any,
    test_update: bool | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    figures: bool = True,
    progress: bool = True,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Score the test videos of ``data`` with the model of ``run`` (nothing chosen on test
    labels), write the results to ``out`` (default: the run folder), return the report.
    Raises the one-line errors of :func:`open_test`."""
    test = open_test(run, data, device)
    scores, source = score_test(test, test_update, batch_size, progress)
    report = paper_report(scores, test.config, test.has_memory, test.videos, test.events)
    report.update(source)
    return write_results(test.run if out is None else Path(out), test, scores, report, figures)

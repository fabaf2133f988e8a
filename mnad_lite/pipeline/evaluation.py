"""An evaluation, end to end: load a run, score the test videos, judge, write, draw.

``evaluate(run, data)`` = :func:`mnad_lite.engine.calibration.calibrate` (normal-data
statistics from the training videos the run held out), :func:`mnad_lite.engine.inference.
score_videos` (the scores), :func:`build_report` (every evaluation choice of MNAD.md
section 6, from :mod:`mnad_lite.metrics`, beside the online score, a threshold's alarms
and the localisation criteria), then ``RUN/scores.csv``, ``RUN/eval.json``,
``RUN/calibration.json`` and ``RUN/figures/`` (:mod:`mnad_lite.report`).

Nothing here is chosen on test labels: the online statistics, the ``auto`` threshold and
the pixel threshold of RBDC/TBDC all come from the calibration videos (normal footage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnad_lite.data.frames import video_fps
from mnad_lite.engine.calibration import (
    CALIBRATION_FILE,
    Calibration,
    calibrate,
    calibration_videos,
    fingerprint,
    parse_threshold,
    reusable,
)
from mnad_lite.engine.config import Config
from mnad_lite.engine.inference import FrameScores, load_run, score_videos
from mnad_lite.errors import ConfigError, DataError
from mnad_lite.localization import (
    GroundTruth,
    localize,
    truth_from_events,
    truth_from_masks,
)
from mnad_lite.metrics import (
    DEFAULT_FPS,
    TABLE_KEYS,
    alarm_metrics,
    decision_metrics,
    evaluation_table,
    flag_runs,
    frame_auc,
    per_kind_auc,
    pixel_auc,
    term_scores,
)
from mnad_lite.report.results import write_json, write_scores_csv
from mnad_lite.scoring import anomaly_score, online_score


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


def online_scores(scores: FrameScores, calibration: Calibration, has_memory: bool) -> np.ndarray:
    """S_t with the online Eq. 17 (normal-data statistics): ``[N]``."""
    distances = scores.distance if has_memory else None
    return online_score(scores.psnr, distances, calibration.stats, calibration.lambda_score)


def localization_truth(
    scores: FrameScores, videos: list, events: list
) -> tuple[GroundTruth, str] | None:
    """Ground-truth regions at the error maps' size, and where they came from.

    The synthetic manifest's per-frame boxes when every test video has the same frame
    size (one event = one track), else the pixel masks (components linked into tracks by
    IoU, :func:`mnad_lite.localization.truth_from_masks`), else None.
    """
    map_hw = tuple(scores.error_maps.shape[1:])
    sizes = {v.frame_size for v in videos}
    if events and len(sizes) == 1 and any(getattr(e, "boxes", None) for e in events):
        truth = truth_from_events(
            events,
            scores.videos,
            scores.video_ids,
            scores.frame_index,
            frame_size=sizes.pop(),
            map_size=map_hw,
        )
        return truth, "manifest events (boxes)"
    masks = masks_of(scores, videos)
    if masks is None:
        return None
    return truth_from_masks(masks, scores.video_ids, scores.frame_index), "pixel masks"


def localization_report(
    scores: FrameScores, videos: list, events: list, calibration: Calibration | None
) -> dict[str, Any] | None:
    """RBDC and TBDC (``localization`` of eval.json) with every choice made, or None.

    The pixel threshold is the calibration's (a quantile of normal error-map pixels);
    regions are 8-connected components scored by their maximum (the defaults of
    :func:`mnad_lite.localization.detect_regions`).
    """
    found = localization_truth(scores, videos, events)
    if found is None or calibration is None:
        return None
    truth, truth_source = found
    result = localize(scores.error_maps, truth, calibration.pixel_threshold)
    return {
        **result.to_dict(curves=False),
        "pixel_threshold": calibration.pixel_threshold,
        "pixel_threshold_from": (
            f"the {calibration.pixel_quantile:g} quantile of the error-map pixels of "
            f"{calibration.frames} calibration frames ({calibration.source})"
        ),
        "truth": truth_source,
        "map_size": list(scores.error_maps.shape[1:]),
        "regions": "8-connected components of map > threshold, box = bounding box, "
        "score = max of the map, min_area 1",
    }


def build_report(
    scores: FrameScores,
    config: Config,
    has_memory: bool,
    videos: list,
    events: list,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """The numbers of ``eval.json``: AUC choices, online AUC, pixel AUC, RBDC/TBDC,
    per-kind AUC, counts.

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
        report["frame_auc_online"] = (
            None
            if calibration is None
            else frame_auc(online_scores(scores, calibration, has_memory), labels)
        )
        report["localization"] = localization_report(scores, videos, events, calibration)
        report["per_kind_auc_terms"] = {  # which term detects which kind
            term: per_kind_auc(s, labels, scores.video_names, scores.frame_index, events)
            for term, s in term_scores(scores.psnr, distances, scores.video_ids, lam).items()
        }
    else:  # no ground truth (your own footage) or one class only: scores, no AUCs
        report = {
            **dict.fromkeys(TABLE_KEYS),
            "pixel_auc": None,
            "per_kind_auc": {},
            "frame_auc_online": None,
            "localization": None,
            "per_kind_auc_terms": {},
        }
    report["calibration"] = None if calibration is None else calibration.summary()
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


def test_fps(videos: list, fps: float | None) -> tuple[float, str]:
    """(frames per second of the test videos, where it came from): ``fps`` when given,
    else the video files' common header rate, else :data:`DEFAULT_FPS`."""
    if fps is not None:
        if not fps > 0:
            raise ConfigError(f"fps must be > 0, got {fps}")
        return float(fps), "given"
    if videos and all(not v.frame_paths for v in videos):
        rates = {video_fps(v.source) for v in videos}
        if len(rates) == 1 and None not in rates:
            return float(rates.pop()), "video file header"
    return DEFAULT_FPS, f"default ({DEFAULT_FPS:g}, the frame rate of UCSD Ped2)"


def evaluate(
    run: str | Path,
    data: str | Path | Any,
    test_update: bool | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    figures: bool = True,
    progress: bool = True,
    threshold: float | str | None = None,
    out: str | Path | None = None,
    fps: float | None = None,
    online: bool = True,
) -> dict[str, Any]:
    """Score the test videos of ``data`` with the model of ``run``; write the results.

    First the run is calibrated on normal footage (:mod:`mnad_lite.engine.calibration`:
    the training videos it held out, else all training videos); the statistics go to
    ``eval.json`` (``calibration``) and ``calibration.json``, and give the online score
    (``score_online`` in ``scores.csv``, ``frame_auc_online``). A dataset without
    training videos uses the run's existing ``calibration.json``, if any.

    ``threshold`` flags frames: a number T flags frames whose paper score (Eq. 16,
    per-video min-max, 0..1) is at least T; ``"auto"`` (``"auto:Q"``) flags frames whose
    online score is at least the 99th (Q-th) percentile of the calibration frames' online
    scores. ``scores.csv`` gets a ``flagged`` column; with labels, the report gets
    precision, recall, F1 and the alarms (false alarms per minute of video at ``fps``:
    given, else the video files' header, else 10). Never tune T on test labels.

    ``out`` is the folder for the results (default: the run folder), so several
    evaluation settings of one run can sit side by side. ``online=False`` skips the
    calibration (no online score, no ``--threshold auto``): the paper's protocol alone,
    in less than half the time on the synthetic set.

    Returns the report written to ``eval.json`` (see
    :func:`mnad_lite.metrics.evaluation_table` for the AUC keys), plus ``pixel_auc``,
    ``frame_auc_online``, ``localization`` (RBDC/TBDC), ``per_kind_auc``, frame counts,
    the memory updates made and the throughput.
    """
    from mnad_lite.data import open_dataset

    run = Path(run)
    spec = parse_threshold(threshold)
    model, config = load_run(run, device)
    dev = next(model.parameters()).device
    dataset = open_dataset(data) if isinstance(data, (str, Path)) else data
    videos = list(dataset.test)
    if not videos:
        raise DataError(f"{dataset.root}: no test videos")
    unlabelled = [v.name for v in videos if v.labels is None]
    if unlabelled and len(unlabelled) < len(videos):
        raise DataError(f"{dataset.root}: test video {unlabelled[0]} has no frame labels")
    out = run if out is None else Path(out)
    calibration = None
    reused = False
    if dataset.train and online:  # before the test videos: the test-time update changes the memory
        cal_videos, source = calibration_videos(dataset, config)
        stamp = fingerprint(run / "model.pt", cal_videos)
        for stored in dict.fromkeys([out / CALIBRATION_FILE, run / CALIBRATION_FILE]):
            calibration = reusable(stored, config, stamp)
            if calibration is not None:  # same weights, videos and scoring: no rescoring
                reused = True
                break
        else:
            calibration, _ = calibrate(model, config, cal_videos, source, dev, progress)
            calibration.fingerprint = stamp
    elif online and (run / CALIBRATION_FILE).is_file():
        calibration = Calibration.load(run / CALIBRATION_FILE)
        calibration.check(config, run / CALIBRATION_FILE)
    if spec is not None and spec[0] == "auto" and calibration is None:
        raise ConfigError(
            f"{dataset.root}: --threshold auto needs normal footage to calibrate on "
            "(training videos) or a calibration.json in the run folder"
        )
    video_rate, rate_source = test_fps(videos, fps)
    update = config.test_update if test_update is None else test_update
    scores = score_videos(model, videos, config, update, batch_size, dev, progress)
    has_memory = model.memory is not None
    events = getattr(dataset, "events", [])
    report = build_report(scores, config, has_memory, videos, events, calibration)
    report.update(
        test_update=bool(update and has_memory),
        device=str(dev),
        data=str(dataset.root),
        label_source=getattr(dataset, "label_source", None),
        run=str(run),
    )
    final, glob, _ = final_scores(scores, config, has_memory)
    online = None if calibration is None else online_scores(scores, calibration, has_memory)
    flagged = None
    if spec is not None:
        kind, value = spec
        if kind == "auto":
            assert calibration is not None and online is not None
            t, on = calibration.threshold(value), online
            report["threshold_score"] = "score_online"
            report["threshold_choice"] = (
                f"auto: the {value:g}th percentile of the online scores of the "
                f"{calibration.frames} calibration frames ({calibration.source}: "
                f"{', '.join(calibration.videos)})"
            )
        else:
            t, on = value, final
            report["threshold_score"] = "score"
            report["threshold_choice"] = "given (on the paper's per-video min-max score)"
        flagged = on >= t
        report["threshold"] = t
        report["flagged_frames"] = int(flagged.sum())
        if scores.labels is not None:
            report.update(decision_metrics(flagged, scores.labels))
            alarms = alarm_metrics(flagged, scores.labels, scores.video_ids, video_rate)
            report["alarms"] = {**alarms, "video_fps_source": rate_source}
        else:
            report["alarms"] = {"alarms": int(len(flag_runs(flagged, scores.video_ids)[0]))}
    out.mkdir(parents=True, exist_ok=True)
    write_scores_csv(out / "scores.csv", scores, final, glob, flagged, online)
    if calibration is not None:
        if dataset.train:
            calibration.save(out / CALIBRATION_FILE)
        report["calibration"]["file"] = str((out if dataset.train else run) / CALIBRATION_FILE)
        report["calibration"]["reused"] = reused or not dataset.train
    if figures:
        from mnad_lite.report import figures as figs

        fig_dir = out / "figures"
        fig_dir.mkdir(exist_ok=True)
        report["figures"] = [str(p) for p in figs.score_curves(scores, final, fig_dir)] + [
            str(figs.error_maps(scores, final, videos, config, fig_dir / "error_maps.png"))
        ]
    write_json(out / "eval.json", report)
    return report


def calibrate_run(
    run: str | Path,
    data: str | Path | Any,
    device: str = "auto",
    progress: bool = True,
    overwrite: bool = False,
) -> Calibration:
    """Calibrate ``run`` on the normal training videos of ``data`` (no test videos needed)
    and write ``RUN/calibration.json`` (refused when it exists, unless ``overwrite``)."""
    from mnad_lite.data import open_dataset

    run = Path(run)
    target = run / CALIBRATION_FILE
    if target.exists() and not overwrite:
        raise ConfigError(f"{target}: already exists; pass --overwrite to replace it")
    model, config = load_run(run, device)
    dev = next(model.parameters()).device
    dataset = open_dataset(data) if isinstance(data, (str, Path)) else data
    videos, source = calibration_videos(dataset, config)
    calibration, _ = calibrate(model, config, videos, source, dev, progress)
    calibration.fingerprint = fingerprint(run / "model.pt", videos)
    calibration.save(target)
    return calibration

"""The paper's evaluation plus what alerts need: normal-data calibration, the online score,
a threshold's alarms and region-level localisation (RBDC/TBDC).

``evaluate(run, data)`` = :func:`mnad_lite.alerts.calibration.calibrate` (statistics from
the training videos the run held out), the paper's protocol of
:mod:`mnad_lite.engine.evaluation`, :func:`alert_report` (online AUC, RBDC/TBDC), the
threshold's flags, then ``RUN/scores.csv`` (with ``score_online``, ``flagged``),
``RUN/eval.json``, ``RUN/calibration.json`` and ``RUN/figures/``. This is what
``mnad-lite evaluate`` runs.

Nothing here is chosen on test labels: the online statistics, the ``auto`` threshold and
the pixel threshold of RBDC/TBDC all come from the calibration videos (normal footage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnad_lite.alerts.alarms import DEFAULT_FPS, alarm_metrics, decision_metrics, flag_runs
from mnad_lite.alerts.calibration import (
    CALIBRATION_FILE,
    Calibration,
    calibrate,
    calibration_videos,
    fingerprint,
    parse_threshold,
    reusable,
)
from mnad_lite.alerts.localization import (
    GroundTruth,
    localize,
    truth_from_events,
    truth_from_masks,
)
from mnad_lite.alerts.online import online_score
from mnad_lite.data.video import video_fps
from mnad_lite.engine.evaluation import (
    TestRun,
    final_scores,
    has_ground_truth,
    masks_of,
    open_test,
    paper_report,
    score_test,
    write_results,
)
from mnad_lite.engine.inference import FrameScores, load_run
from mnad_lite.errors import ConfigError
from mnad_lite.metrics import frame_auc
from mnad_lite.scoring import memory_terms


def online_scores(scores: FrameScores, calibration: Calibration, has_memory: bool) -> np.ndarray:
    """S_t with the online Eq. 17 (normal-data statistics): ``[N]``."""
    distances, _ = memory_terms(scores.distance, calibration.lambda_score, has_memory)
    return online_score(scores.psnr, distances, calibration.stats, calibration.lambda_score)


def localization_truth(
    scores: FrameScores, videos: list, events: list
) -> tuple[GroundTruth, str] | None:
    """Ground-truth regions at the error maps' size, and where they came from.

    The synthetic manifest's per-frame boxes when every test video has the same frame
    size (one event = one track), else the pixel masks (components linked into tracks by
    IoU, :func:`mnad_lite.alerts.localization.truth_from_masks`), else None.
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
    :func:`mnad_lite.alerts.localization.detect_regions`).
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


def alert_report(
    scores: FrameScores, test: TestRun, calibration: Calibration | None
) -> dict[str, Any]:
    """``frame_auc_online``, ``localization`` and ``calibration`` of ``eval.json``."""
    labelled = has_ground_truth(scores) and calibration is not None
    return {
        "frame_auc_online": (
            frame_auc(online_scores(scores, calibration, test.has_memory), scores.labels)
            if labelled
            else None
        ),
        "localization": (
            localization_report(scores, test.videos, test.events, calibration)
            if has_ground_truth(scores)
            else None
        ),
        "calibration": None if calibration is None else calibration.summary(),
    }


def build_report(
    scores: FrameScores, test: TestRun, calibration: Calibration | None = None
) -> dict[str, Any]:
    """The paper's report (:func:`mnad_lite.engine.evaluation.paper_report`) and the
    alert numbers (:func:`alert_report`)."""
    report = paper_report(scores, test.config, test.has_memory, test.videos, test.events)
    return {**report, **alert_report(scores, test, calibration)}


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


test_fps.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def calibration_for(test: TestRun, out: Path, progress: bool) -> tuple[Calibration | None, bool]:
    """(the run's calibration, whether a stored one was reused).

    Computed on the normal training videos (before the test videos: the test-time update
    changes the memory) unless ``OUT/`` or ``RUN/calibration.json`` holds one for the
    same weights, videos and scoring; a dataset without training videos uses the run's
    ``calibration.json``, if any.
    """
    if test.dataset.train:
        cal_videos, source = calibration_videos(test.dataset, test.config)
        stamp = fingerprint(test.run / "model.pt", cal_videos)
        for stored in dict.fromkeys([out / CALIBRATION_FILE, test.run / CALIBRATION_FILE]):
            calibration = reusable(stored, test.config, stamp)
            if calibration is not None:  # same weights, videos and scoring: no rescoring
                return calibration, True
        calibration, _ = calibrate(
            test.model, test.config, cal_videos, source, test.device, progress
        )
        calibration.fingerprint = stamp
        return calibration, False
    stored = test.run / CALIBRATION_FILE
    if stored.is_file():
        calibration = Calibration.load(stored)
        calibration.check(test.config, stored)
        return calibration, True
    return None, False


def flag_frames(
    spec: tuple[str, float],
    scores: FrameScores,
    final: np.ndarray,
    online: np.ndarray | None,
    calibration: Calibration | None,
    rate: tuple[float, str],
) -> tuple[np.ndarray, dict[str, Any]]:
    """The flags of a threshold ``spec`` (:func:`parse_threshold`) and what they give:
    threshold, choice, flagged frames, and with labels precision, recall, F1 and alarms
    (false alarms per minute of video at ``rate`` = (fps, source))."""
    kind, value = spec
    if kind == "auto":
        assert calibration is not None and online is not None
        t, on = calibration.threshold(value), online
        report: dict[str, Any] = {
            "threshold_score": "score_online",
            "threshold_choice": (
                f"auto: the {value:g}th percentile of the online scores of the "
                f"{calibration.frames} calibration frames ({calibration.source}: "
                f"{', '.join(calibration.videos)})"
            ),
        }
    else:
        t, on = value, final
        report = {
            "threshold_score": "score",
            "threshold_choice": "given (on the paper's per-video min-max score)",
        }
    flagged = on >= t
    report.update(threshold=t, flagged_frames=int(flagged.sum()))
    if scores.labels is not None:
        report.update(decision_metrics(flagged, scores.labels))
        alarms = alarm_metrics(flagged, scores.labels, scores.video_ids, rate[0])
        report["alarms"] = {**alarms, "video_fps_source": rate[1]}
    else:
        report["alarms"] = {"alarms": int(len(flag_runs(flagged, scores.video_ids)[0]))}
    return flagged, report


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
) -> dict[str, Any]:
    """The paper's evaluation (:func:`mnad_lite.engine.evaluation.evaluate`) with a
    calibration on normal footage, the online score and an optional threshold.

    The calibration (:mod:`mnad_lite.alerts.calibration`: the training videos the run
    held out, else all training videos) goes to ``eval.json`` (``calibration``) and
    ``calibration.json``, and gives the online score (``score_online`` in
    ``scores.csv``, ``frame_auc_online``) and RBDC/TBDC's pixel threshold.

    ``threshold`` flags frames: a number T flags frames whose paper score (Eq. 16,
    per-video min-max, 0..1) is at least T; ``"auto"`` (``"auto:Q"``) flags frames whose
    online score is at least the 99th (Q-th) percentile of the calibration frames' online
    scores. ``scores.csv`` gets a ``flagged`` column; with labels, the report gets
    precision, recall, F1 and the alarms (false alarms per minute of video at ``fps``:
    given, else the video files' header, else 10). Never tune T on test labels.
    """
    spec = parse_threshold(threshold)
    test = open_test(run, data, device)
    out = test.run if out is None else Path(out)
    calibration, reused = calibration_for(test, out, progress)
    if spec is not None and spec[0] == "auto" and calibration is None:
        raise ConfigError(
            f"{test.dataset.root}: --threshold auto needs normal footage to calibrate on "
            "(training videos) or a calibration.json in the run folder"
        )
    rate = test_fps(test.videos, fps)
    scores, source = score_test(test, test_update, batch_size, progress)
    report = {**build_report(scores, test, calibration), **source}
    online = None if calibration is None else online_scores(scores, calibration, test.has_memory)
    flagged = None
    if spec is not None:
        final, _, _ = final_scores(scores, test.config, test.has_memory)
        flagged, decisions = flag_frames(spec, scores, final, online, calibration, rate)
        report.update(decisions)
    if calibration is not None:
        if test.dataset.train:
            out.mkdir(parents=True, exist_ok=True)
            calibration.save(out / CALIBRATION_FILE)
        report["calibration"]["file"] = str(
            (out if test.dataset.train else test.run) / CALIBRATION_FILE
        )
        report["calibration"]["reused"] = reused or not test.dataset.train
    return write_results(out, test, scores, report, figures, flagged, online)


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

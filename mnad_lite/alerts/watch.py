"""Watching a video: score a stream frame by frame and raise alerts, in constant memory.

``watch(video, run)`` reads a video file with OpenCV one frame at a time, resizes it
like the training frames, keeps the last t_length frames in a ring buffer and scores
frame t as soon as its t_length - 1 predecessors are in (prediction; every frame for
reconstruction):

- P_t (Eq. 14), D_t (Eq. 15) and eps_t (Eq. 6) exactly as ``evaluate`` computes them
  (:func:`mnad_lite.engine.inference.score_clips`), with the test-time update **off**
  (the trained memory; an unbounded stream never drifts it);
- the online score S_t (Eq. 16 with the online Eq. 17,
  :func:`mnad_lite.alerts.online.online_score`) from the run's ``calibration.json``
  (:mod:`mnad_lite.alerts.calibration`), so S_t depends on frame t, its predecessors and
  the training data only;
- flagged when S_t >= T: T from ``--threshold`` (``auto`` = the 99th percentile of the
  calibration frames' online scores, ``auto:Q``, or a number on the online score).

An **event** is a maximal run of consecutive flagged frames (:class:`EventTracker`).
Written into a fresh folder (default ``RUN/watch/<video>``, ``-2``, ``-3`` ... if taken;
an explicit ``out`` that exists and is not empty is refused):

- ``scores.csv``: ``frame, time_s, psnr, feature_distance, regular_score, score, flagged``
  (frames counted from 0 in the file; time_s = frame / fps);
- ``events.csv``: ``start, end, start_s, end_s, frames, peak_score, peak_frame``
  (inclusive frames);
- ``watch.json``: the summary (threshold and how it was chosen, fps, counts, files);
- ``annotated.avi`` with ``annotate=True`` (MJPG): each frame with its error map
  overlaid and a strip of the score curve (threshold in red) below.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from mnad_lite.alerts.alarms import DEFAULT_FPS
from mnad_lite.alerts.calibration import (
    CALIBRATION_FILE,
    DEFAULT_QUANTILE,
    Calibration,
    parse_threshold,
)
from mnad_lite.alerts.online import online_score
from mnad_lite.data.frames import resize
from mnad_lite.data.video import convert_frame, open_capture
from mnad_lite.engine.inference import load_run, prepare, score_clips
from mnad_lite.errors import ConfigError, DataError
from mnad_lite.files import write_json
from mnad_lite.scoring import memory_terms

SCORE_HEADER = ("frame", "time_s", "psnr", "feature_distance", "regular_score", "score", "flagged")
EVENT_HEADER = ("start", "end", "start_s", "end_s", "frames", "peak_score", "peak_frame")
STRIP_HEIGHT = 72  # pixels of the score strip under each annotated frame
STRIP_FRAMES = 200  # frames of score history the strip shows


# --- events --------------------------------------------------------------------------------


@dataclass
class EventTracker:
    """Events (maximal runs of flagged frames) of a stream, one frame at a time.

    :meth:`push` takes consecutive frames; it returns the event a frame closes (the first
    unflagged frame after a run), :meth:`close` the one still open at the end. An event is
    ``{"start", "end", "peak_score", "peak_frame"}`` (inclusive frames; the peak is the
    first frame of the highest score).
    """

    _open: dict[str, Any] | None = None
    _last: int | None = None

    def push(self, frame: int, score: float, flagged: bool) -> dict[str, Any] | None:
        closed = None
        if self._open is not None and (not flagged or frame != self._last + 1):
            closed = self.close()
        if flagged:
            if self._open is None:
                self._open = {
                    "start": frame,
                    "end": frame,
                    "peak_score": score,
                    "peak_frame": frame,
                }
            else:
                self._open["end"] = frame
                if score > self._open["peak_score"]:
                    self._open["peak_score"], self._open["peak_frame"] = score, frame
        self._last = frame
        return closed

    def close(self) -> dict[str, Any] | None:
        event, self._open = self._open, None
        return event


def event_row(event: dict[str, Any], fps: float) -> list[Any]:
    """One ``events.csv`` row."""
    return [
        event["start"],
        event["end"],
        f"{event['start'] / fps:.3f}",
        f"{event['end'] / fps:.3f}",
        event["end"] - event["start"] + 1,
        f"{event['peak_score']:.6f}",
        event["peak_frame"],
    ]


# --- the output folder ---------------------------------------------------------------------


def _fresh_folder(out: Path | None, run: Path, video: Path) -> Path:
    """The folder to write: a given ``out`` must not hold files; the default
    ``RUN/watch/<video stem>`` becomes ``-2``, ``-3`` ... when taken."""
    if out is not None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(f"{out}: already exists; choose another --out (nothing overwritten)")
        out.mkdir(parents=True, exist_ok=True)
        return out
    base = run / "watch" / video.stem
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    candidate.mkdir(parents=True)
    return candidate


# --- annotation ----------------------------------------------------------------------------


@dataclass
class Annotator:
    """Draws the annotated video: error map overlay and a score strip, frame by frame."""

    path: Path
    fps: float
    threshold: float
    pixel_threshold: float
    low: float  # the lowest calibration score: the strip's floor
    history: deque = field(default_factory=lambda: deque(maxlen=STRIP_FRAMES))
    writer: cv2.VideoWriter | None = None

    def write(self, bgr: np.ndarray, error_map: np.ndarray | None, score: float | None) -> None:
        h, w = bgr.shape[:2]
        if self.writer is None:
            fourcc = cv2.VideoWriter_fourcc(*"MJPG")
            self.writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h + STRIP_HEIGHT))
            if not self.writer.isOpened():
                raise DataError(f"{self.path}: cannot be written (no MJPG writer in OpenCV)")
        frame = bgr.copy()
        if error_map is not None:
            err = cv2.resize(error_map.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
            level = np.clip(err / (2 * self.pixel_threshold), 0, 1)  # 0.5 = the pixel threshold
            heat = cv2.applyColorMap((255 * level).astype(np.uint8), cv2.COLORMAP_INFERNO)
            alpha = (0.7 * level)[..., None]
            frame = (frame * (1 - alpha) + heat * alpha).astype(np.uint8)
        if score is not None:
            self.history.append(score)
            if score >= self.threshold:
                cv2.rectangle(frame, (0, 0), (w - 1, h - 1), (0, 0, 255), 3)
        self.writer.write(np.vstack([frame, self._strip(w, score)]))

    def _strip(self, w: int, score: float | None) -> np.ndarray:
        strip = np.full((STRIP_HEIGHT, w, 3), 24, np.uint8)
        values = np.asarray(self.history, dtype=np.float64)
        top = max(2 * self.threshold - self.low, float(values.max()) if values.size else 0.0)
        span = max(top - self.low, 1e-9)

        def y_of(v: np.ndarray | float) -> np.ndarray:
            frac = np.clip((np.asarray(v) - self.low) / span, 0, 1)
            return (STRIP_HEIGHT - 4 - frac * (STRIP_HEIGHT - 8)).astype(np.int32)

        ty = int(y_of(self.threshold))
        cv2.line(strip, (0, ty), (w - 1, ty), (0, 0, 255), 1)
        if values.size >= 2:
            x = np.linspace(0, w - 1, STRIP_FRAMES).astype(np.int32)[-values.size :]
            pts = np.stack([x, y_of(values)], axis=1).reshape(-1, 1, 2)
            cv2.polylines(strip, [pts], False, (80, 220, 255), 1)
        text = "warming up" if score is None else f"S={score:.2f}"
        cv2.putText(strip, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        return strip

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


# --- watch ---------------------------------------------------------------------------------


@dataclass
class WatchResult:
    """What :func:`watch` returns (``watch.json`` holds the same, as plain values)."""

    out: Path
    frames: int
    scored: int
    events: list[dict[str, Any]]
    threshold: float
    summary: dict[str, Any]


def _threshold(spec: str | float | None, cal: Calibration) -> tuple[float, str]:
    kind, value = parse_threshold(spec) or ("auto", DEFAULT_QUANTILE)
    if kind == "auto":
        return cal.threshold(value), (
            f"auto: the {value:g}th percentile of the online scores of the {cal.frames} "
            f"calibration frames ({cal.source}: {', '.join(cal.videos)})"
        )
    return value, "given (on the online score)"


def frames_of(cap: cv2.VideoCapture) -> Iterable[np.ndarray]:
    """The BGR frames of an open capture, one at a time."""
    while True:
        ok, bgr = cap.read()
        if not ok:
            return
        yield bgr


def _frame_rate(cap: cv2.VideoCapture, fps: float | None) -> tuple[float, str]:
    """(frames per second, where it came from): ``fps``, else the header, else 10."""
    header_fps = float(cap.get(cv2.CAP_PROP_FPS))
    if fps is not None:
        return float(fps), "given"
    if np.isfinite(header_fps) and 0 < header_fps < 1000:
        return header_fps, "video file header"
    return DEFAULT_FPS, f"default ({DEFAULT_FPS:g})"


def _score_ring(
    model: Any, ring: deque, config: Any, dev: torch.device, cal: Calibration
) -> tuple[dict[str, Any], float]:
    """The last t_length frames' clip scored: (P, D, ε and the error map; online S_t)."""
    r = score_clips(model, torch.stack(list(ring))[None].to(dev), config)
    dist, _ = memory_terms(r["distance"].double().numpy(), 1.0, model.memory is not None)
    psnr = r["psnr"].double().numpy()
    return r, float(online_score(psnr, dist, cal.stats, cal.lambda_score)[0])


def _stream(
    frames: Iterable[np.ndarray],
    total: int,
    folder: Path,
    model: Any,
    config: Any,
    cal: Calibration,
    t_value: float,
    rate: float,
    annotator: Annotator | None,
    progress: bool,
) -> tuple[int, int, list[dict[str, Any]]]:
    """Score the frames as they come, writing ``scores.csv``, ``events.csv`` (and the
    annotated video); returns (frames read, frames scored, events)."""
    from tqdm.auto import tqdm

    dev = next(model.parameters()).device
    ring: deque[torch.Tensor] = deque(maxlen=config.t_length)
    tracker, events, read, scored = EventTracker(), [], 0, 0
    with (
        open(folder / "scores.csv", "w", newline="") as f_scores,
        open(folder / "events.csv", "w", newline="") as f_events,
    ):
        w_scores, w_events = csv.writer(f_scores), csv.writer(f_events)
        w_scores.writerow(SCORE_HEADER)
        w_events.writerow(EVENT_HEADER)
        bar = tqdm(total=total if total > 0 else None, desc="watching", disable=not progress)
        for t, bgr in enumerate(frames):
            read += 1
            img = resize(convert_frame(bgr, config.channels), config.size)  # [H, W, C]
            x = img.transpose(2, 0, 1).astype(np.float32) / np.float32(127.5)
            ring.append(torch.from_numpy(x - np.float32(1.0)))  # [C, H, W] in [-1, 1]
            error_map, score = None, None
            if len(ring) == config.t_length:
                r, score = _score_ring(model, ring, config, dev, cal)
                flagged = score >= t_value
                psnr, dist, reg = (float(r[k][0]) for k in ("psnr", "distance", "regular"))
                w_scores.writerow(
                    [t, f"{t / rate:.3f}", f"{psnr:.6f}", f"{dist:.9g}", f"{reg:.9g}"]
                    + [f"{score:.6f}", int(flagged)]
                )
                closed = tracker.push(t, score, flagged)
                if closed is not None:
                    events.append(closed)
                    w_events.writerow(event_row(closed, rate))
                error_map = r["maps"][0].float().numpy()
                scored += 1
            if annotator is not None:
                annotator.write(bgr, error_map, score)
            bar.update(1)
        bar.close()
        last = tracker.close()
        if last is not None:
            events.append(last)
            w_events.writerow(event_row(last, rate))
    return read, scored, events


def _watcher(run: Path, device: str) -> tuple[Any, Any, Calibration]:
    """(model ready to score, its configuration, its calibration) of ``run``."""
    if not (run / "model.pt").is_file():
        raise ConfigError(f"{run / 'model.pt'}: no trained model in the run folder")
    cal = Calibration.load(run / CALIBRATION_FILE)
    model, config = load_run(run, device)
    cal.check(config, run / CALIBRATION_FILE)
    prepare(model, config)
    return model, config, cal


def _summary(
    video: Path, run: Path, folder: Path, events: list, frames: int, scored: int, seconds: float
) -> dict[str, Any]:
    """``watch.json`` without the threshold and frame-rate entries (added by the caller)."""
    return {
        "video": str(video),
        "run": str(run),
        "frames": frames,
        "scored_frames": scored,
        "video_fps": None,
        "video_fps_source": None,
        "threshold": None,
        "threshold_score": "score_online",
        "threshold_choice": None,
        "flagged_frames": sum(e["end"] - e["start"] + 1 for e in events),
        "events": len(events),
        "test_update": False,
        "calibration": None,
        "files": [],
        "seconds": seconds,
        "frames_per_second": frames / max(seconds, 1e-9),
    }


@torch.no_grad()
def watch(
    video: str | Path,
    run: str | Path,
    out: str | Path | None = None,
    threshold: str | float | None = "auto",
    annotate: bool = False,
    device: str = "auto",
    fps: float | None = None,
    progress: bool = True,
) -> WatchResult:
    """Score ``video`` frame by frame with the run's model and calibration; write alerts.

    See the module docstring for what is computed and written. ``fps`` overrides the
    video header's frame rate (used for times only; default when the header has none: 10).
    Raises a one-line error for an unreadable video, a run without ``calibration.json``,
    or an ``out`` that already holds files.
    """
    video, run = Path(video), Path(run)
    if fps is not None and not fps > 0:
        raise ConfigError(f"fps must be > 0, got {fps}")
    model, config, cal = _watcher(run, device)
    t_value, t_choice = _threshold(threshold, cal)
    cap = open_capture(video)
    try:
        rate, rate_source = _frame_rate(cap, fps)
        total = int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        ok, first = cap.read()
        if not ok:
            raise DataError(f"{video}: cannot be read as a video (no frame decodes)")
        folder = _fresh_folder(None if out is None else Path(out), run, video)
        annotator = None
        if annotate:
            annotator = Annotator(
                folder / "annotated.avi", rate, t_value, cal.pixel_threshold, cal.low_score
            )
        tic = time.perf_counter()
        stream = itertools.chain([first], frames_of(cap))
        frames, scored, events = _stream(
            stream, total, folder, model, config, cal, t_value, rate, annotator, progress
        )
        if annotator is not None:
            annotator.close()
    finally:
        cap.release()
    summary = _summary(video, run, folder, events, frames, scored, time.perf_counter() - tic)
    summary.update(
        video_fps=rate,
        video_fps_source=rate_source,
        threshold=t_value,
        threshold_choice=t_choice,
        calibration=str(run / CALIBRATION_FILE),
        files=[str(folder / n) for n in ("scores.csv", "events.csv")]
        + ([str(folder / "annotated.avi")] if annotate else []),
    )
    write_json(folder / "watch.json", summary)
    return WatchResult(folder, frames, scored, events, t_value, summary)

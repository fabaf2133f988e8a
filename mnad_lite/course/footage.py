"""Your own footage, made here (notebook 08): video files of the course's synthetic walkway
(nothing can be downloaded), the dataset ``data from-video`` makes of them, and the
trade-off between false alarms and recall as the alert threshold moves.

The videos are written losslessly (FFV1 in AVI), so every machine decodes the same
frames; they and the dataset are built once into the course cache (:func:`cache_dir`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnad_lite.course.cache import _build_once, cache_dir, course_data

FPS = 10.0  # the synthetic walkway's frame rate (Ped2's)
#: The footage: two normal recordings (one to train on, one held out to calibrate) and one
#: to watch; each is a list of (split, video) of the course's synthetic set, concatenated.
#: The evening opens with a normal recording nobody trained or calibrated on, so that its
#: false alarms per minute rest on more than the few normal frames between anomalies.
FOOTAGE = {
    "cam_a.avi": [("training", 0), ("training", 1)],
    "cam_b.avi": [("training", 2)],
    "evening.avi": [("training", 3), ("testing", 0), ("testing", 1)],
}


def write_video(frames: np.ndarray, path: Path, fps: float = FPS) -> Path:
    """Frames uint8 ``[T, H, W, 3]`` (RGB) as a lossless FFV1 ``.avi`` file."""
    import cv2

    t, h, w, _ = frames.shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot write FFV1 video here")
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))  # OpenCV writes BGR
    writer.release()
    return path


def footage(quick: bool) -> tuple[Path, np.ndarray]:
    """(the folder of the three video files of :data:`FOOTAGE`, the frame labels of
    ``evening.avi``: 1 where the synthetic set put an anomaly). Built once."""
    from mnad_lite.data import open_dataset

    data = open_dataset(course_data(quick))

    def build(tmp: Path) -> None:
        labels = []
        for name, parts in FOOTAGE.items():
            videos = [getattr(data, "train" if s == "training" else "test")[i] for s, i in parts]
            write_video(np.concatenate([v.decode(None, 3) for v in videos]), tmp / name)
            if name == "evening.avi":
                # a training video is normal throughout: no labels, all zeros
                labels = np.concatenate(
                    [np.zeros(v.num_frames) if v.labels is None else v.labels for v in videos]
                )
        np.save(tmp / "evening-labels.npy", labels.astype(np.uint8))

    folder = _build_once(
        cache_dir() / "footage" / f"walkway-{'quick' if quick else 'full'}-v2",
        "evening-labels.npy",
        build,
    )
    return folder, np.load(folder / "evening-labels.npy")


def footage_dataset(quick: bool) -> Path:
    """The dataset ``data from-video`` makes of :func:`footage`: ``cam_a`` and ``cam_b`` as
    training videos, ``evening`` as the one test video, without labels. Built once."""
    from mnad_lite.data import extract_frames

    folder, _ = footage(quick)

    def build(tmp: Path) -> None:
        for name, split in (("cam_a", "training"), ("cam_b", "training"), ("evening", "testing")):
            extract_frames(folder / f"{name}.avi", tmp, split)
        (tmp / "done").write_text("made by mnad_lite.course.footage.footage_dataset\n")

    return _build_once(
        cache_dir() / "data" / f"footage-{'quick' if quick else 'full'}-v2", "done", build
    )


def alert_tradeoff(
    scores: np.ndarray, labels: np.ndarray, calibration: Any, percentiles: np.ndarray
) -> dict[str, np.ndarray]:
    """For each percentile Q of the calibration frames' online scores (the ``auto:Q``
    threshold, chosen without test labels): the threshold, false alarms per minute of
    video and the recall (share of anomalous frames flagged) on ``scores`` ``[N]`` with
    ``labels`` ``[N]`` (labels only judge; they choose nothing)."""
    from mnad_lite.alerts.alarms import alarm_metrics, decision_metrics

    rows = []
    for q in percentiles:
        t = calibration.threshold(float(q))
        flagged = scores >= t
        alarms = alarm_metrics(flagged, labels, fps=FPS)
        rows.append(
            (t, alarms["false_alarms_per_minute"], decision_metrics(flagged, labels)["recall"])
        )
    t, fa, recall = (np.array(c, dtype=np.float64) for c in zip(*rows, strict=True))
    return {
        "percentile": np.asarray(percentiles, np.float64),
        "threshold": t,
        "fa": fa,
        "recall": recall,
    }


def plot_tradeoff(tradeoff: dict[str, np.ndarray], q: float) -> Any:
    """False alarms per minute against recall as Q moves, the point of ``q`` marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(tradeoff["fa"], 100 * tradeoff["recall"], "-", color="0.5")
    i = int(np.argmin(np.abs(tradeoff["percentile"] - q)))
    ax.plot(tradeoff["fa"][i], 100 * tradeoff["recall"][i], "o", color="tab:red")
    ax.annotate(
        f"Q = {tradeoff['percentile'][i]:g}: {tradeoff['fa'][i]:.1f} false alarms/min, "
        f"recall {100 * tradeoff['recall'][i]:.0f} %",
        (tradeoff["fa"][i], 100 * tradeoff["recall"][i]),
        textcoords="offset points",
        xytext=(8, -12),
        fontsize=8,
    )
    ax.set(xlabel="false alarms per minute", ylabel="recall (% of anomalous frames)")
    ax.set_title("the auto:Q threshold, Q from the calibration frames", fontsize=9)
    fig.tight_layout()
    return fig


def tradeoff_widget(tradeoff: dict[str, np.ndarray]) -> Any:
    """A slider over Q redrawing :func:`plot_tradeoff`."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    qs = tradeoff["percentile"]

    def show(q: float) -> None:
        plot_tradeoff(tradeoff, q)
        plt.show()

    slider = widgets.FloatSlider(
        value=99.0, min=float(qs.min()), max=float(qs.max()), step=0.1, description="Q"
    )
    return widgets.interactive(show, q=slider)

"""Notebook 08's footage: lossless video files, the dataset made of them, and the trade-off
between false alarms and recall as the auto threshold's percentile moves."""

from __future__ import annotations

import types

import cv2
import numpy as np

from mnad_lite.alerts.alarms import alarm_metrics
from mnad_lite.course.footage import FPS, alert_tradeoff, footage, footage_dataset, write_video
from mnad_lite.data import open_dataset


def test_videos_are_lossless(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (6, 24, 32, 3), dtype=np.uint8)
    cap = cv2.VideoCapture(str(write_video(frames, tmp_path / "v.avi")))
    back = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        back.append(bgr[:, :, ::-1])
    assert cap.get(cv2.CAP_PROP_FPS) == FPS and np.array_equal(np.stack(back), frames)


def test_the_footage_and_its_dataset_are_built_once(monkeypatch, tmp_path):
    monkeypatch.setenv("MNAD_CACHE", str(tmp_path))
    folder, labels = footage(True)
    assert sorted(p.name for p in folder.glob("*.avi")) == ["cam_a.avi", "cam_b.avi", "evening.avi"]
    data = open_dataset(footage_dataset(True))
    assert [v.name for v in data.train] == ["cam_a", "cam_b"] and len(data.test) == 1
    assert data.test[0].num_frames == len(labels) and data.test[0].labels is None
    stamp = (folder / "evening.avi").stat().st_mtime_ns
    assert footage(True)[0] == folder and (folder / "evening.avi").stat().st_mtime_ns == stamp


def test_the_tradeoff_is_that_of_each_threshold():
    scores = np.linspace(0.0, 3.0, 60)
    labels = (np.arange(60) >= 40).astype(int)
    calibration = types.SimpleNamespace(threshold=lambda q: 3.0 * q / 100)
    q = np.array([90.0, 95.0, 99.0])
    t = alert_tradeoff(scores, labels, calibration, q)
    assert np.allclose(t["threshold"], 3.0 * q / 100)
    for i, threshold in enumerate(t["threshold"]):
        flagged = scores >= threshold
        assert t["recall"][i] == flagged[labels == 1].mean()
        assert t["fa"][i] == alarm_metrics(flagged, labels, fps=FPS)["false_alarms_per_minute"]

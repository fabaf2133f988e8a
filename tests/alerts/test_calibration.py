"""From scores to alerts, on hand-computed cases: the online Eq. 17, thresholds, alarms,
events (no model, no data)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import score_events

from mnad_lite.alerts.alarms import alarm_metrics, flag_runs
from mnad_lite.alerts.calibration import Calibration, calibration_videos, parse_threshold
from mnad_lite.alerts.online import OnlineStats, online_score, standardize
from mnad_lite.alerts.watch import EventTracker
from mnad_lite.engine.config import preset
from mnad_lite.errors import ConfigError, MNADError
from mnad_lite.scoring import anomaly_score, combine, normalize


def test_online_stats_are_mean_and_population_std():
    stats = OnlineStats.fit([1.0, 3.0], [0.0, 2.0])
    assert stats == OnlineStats(2.0, 1.0, 1.0, 1.0)
    assert OnlineStats.fit([1.0, 3.0]).distance_mean is None
    with pytest.raises(MNADError, match="constant"):
        OnlineStats.fit([5.0, 5.0, 5.0])
    with pytest.raises(MNADError, match="at least 2"):
        OnlineStats.fit([5.0])
    assert OnlineStats.from_dict(stats.to_dict()) == stats


def test_online_score_by_hand():
    # mu_P 20, sigma_P 2, mu_D 0.1, sigma_D 0.05, lambda 0.6:
    # P = 20, D = 0.1 -> 0; P = 18, D = 0.2 -> 0.6 * 1 + 0.4 * 2 = 1.4; P = 24, D = 0 -> -2
    stats = OnlineStats(20.0, 2.0, 0.1, 0.05)
    s = online_score([20.0, 18.0, 24.0], [0.1, 0.2, 0.0], stats, 0.6)
    np.testing.assert_allclose(s, [0.0, 1.4, 0.6 * -2 + 0.4 * -2], atol=1e-12)
    np.testing.assert_allclose(online_score([18.0], None, stats), [1.0])  # PSNR only
    # Eq. 16 written once: the online score is combine() of the standardised terms
    p_part = -standardize([20.0, 18.0, 24.0], 20.0, 2.0)
    d_part = standardize([0.1, 0.2, 0.0], 0.1, 0.05)
    np.testing.assert_array_equal(s, combine(p_part, d_part, 0.6))
    np.testing.assert_allclose(standardize([22.0, 18.0], 20.0, 2.0), [1, -1])
    # the paper's entry points know only the min-max forms: online is this module's
    with pytest.raises(MNADError, match="'video' or 'global'"):
        normalize([22.0, 18.0], [0, 0], "online")
    with pytest.raises(MNADError, match="'video' or 'global'"):
        anomaly_score([1.0, 2.0], None, [0, 0], 1.0, "online")


def test_parse_threshold():
    assert parse_threshold(None) is None
    assert parse_threshold("auto") == ("auto", 99.0)
    assert parse_threshold("auto:95.5") == ("auto", 95.5)
    assert parse_threshold("0.7") == ("value", 0.7)
    assert parse_threshold(2) == ("value", 2.0)
    for bad in ("auto:100", "auto:0", "auto:x", "high", "nan"):
        with pytest.raises(ConfigError):
            parse_threshold(bad)


def test_calibration_threshold_is_a_percentile_of_its_scores():
    cal = Calibration(OnlineStats(0, 1, 0, 1), 0.6, np.arange(101.0), ["a"], "training", 0.5)
    assert cal.threshold() == pytest.approx(99.0)
    assert cal.threshold(50) == pytest.approx(50.0)
    with pytest.raises(ConfigError):
        cal.threshold(100)


def test_calibration_videos_are_the_held_out_ones():
    class Data:
        root = "x"
        train = ["01", "02", "03", "04"]

    assert calibration_videos(Data, preset("quick", val_videos=1)) == (["04"], "val_videos")
    assert calibration_videos(Data, preset("quick")) == (Data.train, "training")


def test_calibration_file_round_trip_and_errors(tmp_path):
    cal = Calibration(
        OnlineStats(20, 2, 0.1, 0.05), 0.6, np.array([-1.0, 0.5, 2.0]), ["v"], "training", 0.3
    )
    path = cal.save(tmp_path / "calibration.json")
    again = Calibration.load(path)
    assert again.stats == cal.stats and np.array_equal(again.scores, cal.scores)
    assert again.threshold(90) == cal.threshold(90) and again.pixel_threshold == 0.3
    with pytest.raises(ConfigError, match="no calibration"):
        Calibration.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="bad.json: not a valid calibration"):
        Calibration.load(tmp_path / "bad.json")


def test_flag_runs_split_at_video_boundaries():
    flagged = np.array([1, 1, 0, 1, 1, 1, 0, 1], bool)
    ids = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    starts, ends = flag_runs(flagged, ids)
    assert starts.tolist() == [0, 3, 4, 7] and ends.tolist() == [1, 3, 5, 7]
    starts, ends = flag_runs(flagged)
    assert starts.tolist() == [0, 3, 7] and ends.tolist() == [1, 5, 7]


def test_alarm_metrics_by_hand():
    # rows 0-5 are video 0, rows 6-9 video 1; 10 frames at 10 fps = 1/60 minute
    flagged = np.array([1, 1, 0, 0, 1, 1, 1, 0, 0, 1], bool)
    labels = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    ids = np.array([0] * 6 + [1] * 4)
    m = alarm_metrics(flagged, labels, ids, fps=10)
    # alarms: rows 0-1 (holds anomalous row 1: true), 4-5, 6 (another video), 9: 3 false
    assert m["alarms"] == 4 and m["false_alarms"] == 3
    assert m["minutes"] == pytest.approx(1 / 60)
    assert m["false_alarms_per_minute"] == pytest.approx(180.0)
    assert m["false_alarm_frames"] == 5  # rows 0, 4, 5, 6, 9
    assert m["false_alarm_frames_per_minute"] == pytest.approx(300.0)
    assert m["events"] == 1 and m["events_detected"] == 1  # rows 1-2, row 1 flagged
    none = alarm_metrics(np.zeros(10, bool), labels, ids, fps=10)
    assert none["alarms"] == 0 and none["events_detected"] == 0
    assert none["false_alarms_per_minute"] == 0.0
    with pytest.raises(MNADError):
        alarm_metrics(flagged, labels, ids, fps=0)


SCORES = np.array([0.0, 2.0, 3.0, 1.0, 0.0, 5.0, 5.0, 0.0, 4.0])
EXPECTED = [  # frames 4..12, threshold 1.5
    {"start": 5, "end": 6, "peak_score": 3.0, "peak_frame": 6},
    {"start": 9, "end": 10, "peak_score": 5.0, "peak_frame": 9},  # ties: the first
    {"start": 12, "end": 12, "peak_score": 4.0, "peak_frame": 12},  # open at the end
]


def test_events_by_hand_batch_and_stream():
    frames = np.arange(4, 4 + len(SCORES))
    flagged = SCORES >= 1.5
    assert score_events(frames, SCORES, flagged) == EXPECTED
    tracker, seen = EventTracker(), []
    for t, s, f in zip(frames, SCORES, flagged, strict=True):
        closed = tracker.push(int(t), float(s), bool(f))
        if closed is not None:
            seen.append(closed)
            assert closed["end"] < t  # an event is closed by the first frame after it
    seen.append(tracker.close())
    assert seen == EXPECTED
    assert tracker.close() is None
    assert score_events(frames, SCORES, np.zeros(len(SCORES), bool)) == []


def test_events_stream_splits_at_a_frame_gap():
    tracker = EventTracker()
    assert tracker.push(3, 1.0, True) is None
    closed = tracker.push(5, 2.0, True)  # frame 4 missing: a new event
    assert closed == {"start": 3, "end": 3, "peak_score": 1.0, "peak_frame": 3}
    assert tracker.close() == {"start": 5, "end": 5, "peak_score": 2.0, "peak_frame": 5}

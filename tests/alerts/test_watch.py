"""From scores to alerts on the quick synthetic set: calibration, online AUC, auto
threshold, RBDC/TBDC in eval.json, and ``watch`` equal to the batch evaluation."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from helpers import read_events_csv, score_events

from mnad_lite.alerts.calibration import Calibration, calibrate
from mnad_lite.alerts.evaluation import calibrate_run, evaluate
from mnad_lite.alerts.localization import localize, pixel_threshold, truth_from_events
from mnad_lite.alerts.online import OnlineStats, online_score
from mnad_lite.alerts.watch import STRIP_HEIGHT, watch
from mnad_lite.cli import main
from mnad_lite.cli.tables import format_report
from mnad_lite.data import open_dataset
from mnad_lite.engine.config import preset
from mnad_lite.engine.inference import load_run, score_videos
from mnad_lite.engine.train import train
from mnad_lite.errors import ConfigError, DataError
from mnad_lite.metrics import frame_auc
from mnad_lite.research.summary import read_scores_csv


@pytest.fixture(scope="module")
def run(quick_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "quick"
    train(preset("quick", epochs=1), quick_data, run, progress=False)
    return run


@pytest.fixture(scope="module")
def report(run, quick_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    return out, evaluate(
        run, quick_data, device="cpu", progress=False, figures=False, threshold="auto", out=out
    )


def test_calibration_and_online_auc_in_eval_json(run, quick_data, report):
    out, rep = report
    model, config = load_run(run)
    data = open_dataset(quick_data)
    cal, cal_scores = calibrate(model, config, data.train, "training")
    # the statistics are those of the (training) calibration frames, and say so
    saved = rep["calibration"]
    assert saved["source"] == "training" and saved["videos"] == ["01", "02", "03", "04"]
    assert saved["frames"] == cal_scores.psnr.size == 4 * (40 - 4)
    fit = OnlineStats.fit(cal_scores.psnr, cal_scores.distance)
    assert saved["psnr_mean"] == pytest.approx(fit.psnr_mean)
    assert saved["distance_std"] == pytest.approx(fit.distance_std)
    assert Calibration.load(out / "calibration.json").stats == cal.stats
    # online AUC = AUC of scores.csv's score_online, = the direct computation
    cols = read_scores_csv(out / "scores.csv")
    assert rep["frame_auc_online"] == pytest.approx(frame_auc(cols["score_online"], cols["label"]))
    test = score_videos(model, data.test, config)  # the same test-time update as evaluate
    direct = online_score(test.psnr, test.distance, cal.stats, config.lambda_score)
    np.testing.assert_allclose(cols["score_online"], direct, atol=2e-6)
    assert rep["frame_auc_online"] == pytest.approx(frame_auc(direct, test.labels), abs=1e-9)
    assert "online" in format_report(rep) and "RBDC" in format_report(rep)


def test_auto_threshold_and_alarms(report):
    out, rep = report
    cal = json.loads((out / "calibration.json").read_text())
    assert rep["threshold"] == pytest.approx(np.percentile(cal["scores"], 99))
    assert rep["threshold_score"] == "score_online" and "99th percentile" in rep["threshold_choice"]
    cols = read_scores_csv(out / "scores.csv")
    flagged = cols["score_online"] >= rep["threshold"]
    assert np.array_equal(cols["flagged"], flagged)
    labels = cols["label"]
    tp = int((flagged & (labels == 1)).sum())
    assert rep["precision"] == pytest.approx(tp / max(flagged.sum(), 1))
    assert rep["recall"] == pytest.approx(tp / labels.sum())
    alarms = rep["alarms"]
    assert alarms["video_fps"] == 10.0 and alarms["video_fps_source"].startswith("default")
    assert alarms["minutes"] == pytest.approx(len(labels) / 10 / 60)
    assert alarms["false_alarms_per_minute"] == pytest.approx(
        alarms["false_alarms"] / alarms["minutes"]
    )
    assert alarms["false_alarm_frames"] == int((flagged & (labels == 0)).sum())


def test_localization_in_eval_json_equals_a_direct_call(run, quick_data, report):
    _, rep = report
    loc = rep["localization"]
    model, config = load_run(run)
    data = open_dataset(quick_data)
    _, cal_scores = calibrate(model, config, data.train, "training")
    threshold = pixel_threshold(cal_scores.error_maps, 0.99)
    scores = score_videos(model, data.test, config)
    truth = truth_from_events(
        data.events,
        scores.videos,
        scores.video_ids,
        scores.frame_index,
        frame_size=data.test[0].frame_size,
        map_size=scores.error_maps.shape[1:],
    )
    direct = localize(scores.error_maps, truth, threshold)
    assert loc["pixel_threshold"] == pytest.approx(threshold)
    assert "calibration frames" in loc["pixel_threshold_from"]
    assert loc["truth"].startswith("manifest")
    assert loc["rbdc"] == pytest.approx(direct.rbdc) and loc["tbdc"] == pytest.approx(direct.tbdc)
    assert loc["num_tracks"] == len(data.events) == 5
    assert (loc["beta"], loc["alpha"]) == (0.1, 0.1)


@pytest.fixture(scope="module")
def video_data(quick_data, tmp_path_factory):
    """The first quick test video as an MJPG .avi, in a native layout (testing/videos/)
    beside the quick training frames: batch evaluation then decodes the very frames
    ``watch`` decodes."""
    root = tmp_path_factory.mktemp("avi")
    (root / "training").mkdir()
    (root / "training" / "frames").symlink_to(quick_data / "training" / "frames")
    videos = root / "testing" / "videos"
    videos.mkdir(parents=True)
    source = open_dataset(quick_data).test[0]
    frames = source.frames(None, 3)  # RGB [T, H, W, 3]
    path = videos / "street.avi"
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
    writer.release()
    return root, path, len(frames), (h, w)


def test_watch_equals_batch_evaluate(run, video_data, tmp_path):
    root, path, count, (h, w) = video_data
    calibrate_run(run, root, device="cpu", progress=False, overwrite=True)
    batch = evaluate(
        run,
        root,
        test_update=False,
        device="cpu",
        progress=False,
        figures=False,
        threshold="auto",
        out=tmp_path / "batch",
    )
    result = watch(path, run, out=tmp_path / "w", progress=False, device="cpu", annotate=True)
    cols = read_scores_csv(tmp_path / "batch" / "scores.csv")
    with open(result.out / "scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert result.frames == count and result.scored == len(rows) == count - 4
    assert [int(r["frame"]) for r in rows] == cols["frame"].tolist()
    got = {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k != "frame"}
    np.testing.assert_allclose(got["psnr"], cols["psnr"], rtol=0, atol=1e-4)  # dB
    for key in ("feature_distance", "regular_score"):
        np.testing.assert_allclose(got[key], cols[key], rtol=1e-5, atol=1e-9, err_msg=key)
    # the score is Eq. 16 with the online Eq. 17 of the frame's own P and D ...
    cal = Calibration.load(run / "calibration.json")
    np.testing.assert_allclose(
        got["score"],
        online_score(got["psnr"], got["feature_distance"], cal.stats, cal.lambda_score),
        atol=1e-5,
    )
    # ... and equals the batch score up to float32 noise in D (about 1e-8, one clip vs a
    # batch of 8 in the convolutions), which sigma_D (about 1e-4 here) magnifies
    noise = 0.4 * 1e-7 / cal.stats.distance_std + 0.6 * 1e-4 / cal.stats.psnr_std
    np.testing.assert_allclose(got["score"], cols["score_online"], rtol=0, atol=noise + 1e-5)
    assert result.threshold == pytest.approx(batch["threshold"], abs=1e-12)
    scores = np.array([float(r["score"]) for r in rows])
    flagged = np.array([int(r["flagged"]) for r in rows], bool)
    near = np.abs(cols["score_online"] - result.threshold) < noise + 1e-5
    assert np.array_equal(flagged[~near], cols["flagged"][~near])
    # events.csv: the runs of flagged frames, as the batch function finds them
    assert read_events_csv(result.out / "events.csv") == [
        {**e, "peak_score": pytest.approx(e["peak_score"], abs=1e-6)}
        for e in score_events(cols["frame"], scores, flagged)
    ]
    summary = json.loads((result.out / "watch.json").read_text())
    assert summary["video_fps"] == pytest.approx(10.0)
    assert summary["video_fps_source"] == "video file header"
    assert summary["flagged_frames"] == int(flagged.sum())
    cap = cv2.VideoCapture(str(result.out / "annotated.avi"))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and n == count and frame.shape[:2] == (h + STRIP_HEIGHT, w)


def test_watch_never_overwrites_and_explains_errors(run, video_data, tmp_path):
    root, path, _, _ = video_data
    calibrate_run(run, root, device="cpu", progress=False, overwrite=True)
    with pytest.raises(ConfigError, match="already exists"):
        calibrate_run(run, root, device="cpu", progress=False)
    first = watch(path, run, progress=False, device="cpu", threshold="2.5")
    second = watch(path, run, progress=False, device="cpu", threshold="2.5")
    assert first.out == run / "watch" / "street" and second.out.name == "street-2"
    assert first.summary["threshold_choice"].startswith("given")
    assert first.threshold == 2.5
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("mine")
    with pytest.raises(ConfigError, match="taken: already exists"):
        watch(path, run, out=tmp_path / "taken", progress=False, device="cpu")
    with pytest.raises(DataError, match="nothing.avi: no such video file"):
        watch(tmp_path / "nothing.avi", run, progress=False, device="cpu")
    (tmp_path / "broken.avi").write_bytes(b"not a video")
    with pytest.raises(DataError, match="broken.avi: cannot be read as a video"):
        watch(tmp_path / "broken.avi", run, progress=False, device="cpu")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.pt").symlink_to(run / "model.pt")
    assert main(["watch", str(path), "--run", str(bare), "--quiet"]) == 2


def test_watch_cli_prints_events(run, video_data, tmp_path, capsys):
    root, path, count, _ = video_data
    calibrate_run(run, root, device="cpu", progress=False, overwrite=True)
    code = main(
        ["watch", str(path), "--run", str(run), "--out", str(tmp_path / "o"), "--quiet",
         "--threshold", "auto:50", "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert f"{count} frames ({count - 4} scored)" in out and "50th percentile" in out
    assert (tmp_path / "o" / "events.csv").is_file()

"""The evaluation with alerts: the paper's report plus calibration, online score, flags."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from mnad_lite.alerts.evaluation import evaluate
from mnad_lite.data import open_dataset
from mnad_lite.engine.config import Config
from mnad_lite.engine.evaluation import evaluate as paper_evaluate
from mnad_lite.engine.inference import load_run


def test_the_alert_report_extends_the_paper_report(quick_run, quick_data, tmp_path):
    """Same scores, same paper numbers; the alert keys added beside them."""
    paper = paper_evaluate(quick_run, quick_data, figures=False, progress=False, out=tmp_path / "p")
    full = evaluate(quick_run, quick_data, figures=False, progress=False, out=tmp_path / "a")
    for key, value in paper.items():
        if key != "fps":  # throughput, timed
            assert full[key] == value, key
    assert full["frame_auc_online"] is not None and 0 <= full["frame_auc_online"] <= 1
    assert full["calibration"]["frames"] > 0 and (tmp_path / "a" / "calibration.json").is_file()
    with open(tmp_path / "a" / "scores.csv") as fh:
        assert "score_online" in next(csv.reader(fh))


def test_threshold_flags_frames_and_reports_decisions(quick_run, quick_data):
    report = evaluate(
        quick_run, quick_data, device="cpu", progress=False, figures=False, threshold=0.5
    )
    with open(quick_run / "scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    flagged = np.array([int(r["flagged"]) for r in rows])
    scores = np.array([float(r["score"]) for r in rows])
    labels = np.array([int(r["label"]) for r in rows])
    assert np.array_equal(flagged, scores >= 0.5) and report["flagged_frames"] == flagged.sum()
    tp = int((flagged & labels).sum())
    assert report["precision"] == pytest.approx(tp / flagged.sum())
    assert report["recall"] == pytest.approx(tp / labels.sum())


def test_calibration_is_reused_only_for_the_same_weights_and_videos(
    quick_run, quick_data, tmp_path
):
    """A second evaluation does not rescore the calibration videos when the weights, the
    videos and the scoring are unchanged, and does when any of them changed."""
    import shutil

    from mnad_lite.alerts.calibration import CALIBRATION_FILE, Calibration

    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    (run / CALIBRATION_FILE).unlink(missing_ok=True)
    first = evaluate(run, quick_data, figures=False, progress=False)
    assert first["calibration"]["reused"] is False
    stored = Calibration.load(run / CALIBRATION_FILE).fingerprint
    assert len(stored["weights_sha256"]) == 64 and len(stored["videos"]) > 0

    again_dir = tmp_path / "again"
    again = evaluate(run, quick_data, figures=False, progress=False, out=again_dir)
    assert again["calibration"]["reused"] is True
    expected = {**first["calibration"], "reused": True, "file": str(again_dir / CALIBRATION_FILE)}
    assert again["calibration"] == expected
    assert again["frame_auc_online"] == first["frame_auc_online"]

    # Other weights in model.pt: the calibration videos are scored again.
    payload = torch.load(run / "model.pt", weights_only=True)
    name = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][name] = payload["state_dict"][name] + 0.01
    torch.save(payload, run / "model.pt")
    changed = evaluate(run, quick_data, figures=False, progress=False)
    assert changed["calibration"]["reused"] is False
    assert changed["calibration"]["psnr_mean"] != first["calibration"]["psnr_mean"]
    new_sha = Calibration.load(run / CALIBRATION_FILE).fingerprint["weights_sha256"]
    assert new_sha != stored["weights_sha256"]

    # Another scoring configuration (λ of Eq. 16, or the PSNR form): not reusable.
    from mnad_lite.alerts.calibration import calibration_videos, fingerprint, reusable

    _, config = load_run(run)
    stamp = fingerprint(run / "model.pt", calibration_videos(open_dataset(quick_data), config)[0])
    assert reusable(run / CALIBRATION_FILE, config, stamp) is not None
    for change in ({"lambda_score": 0.3}, {"psnr_form": "paper"}):
        other = Config.from_dict({**config.to_dict(), **change})
        assert reusable(run / CALIBRATION_FILE, other, stamp) is None, change

    # A broken calibration file is calibrated over, neither trusted nor an error.
    (run / CALIBRATION_FILE).write_text("{not json")
    repaired = evaluate(run, quick_data, figures=False, progress=False)
    assert repaired["calibration"]["reused"] is False
    assert Calibration.load(run / CALIBRATION_FILE).fingerprint["weights_sha256"] == new_sha

"""Evaluation: batch-size independence, the test-time update, the files it writes."""

from __future__ import annotations

import copy
import csv
import json

import numpy as np
import pytest
import torch

from mnad_lite.config import preset
from mnad_lite.data import open_dataset
from mnad_lite.evaluate import evaluate, format_report, load_run, score_videos
from mnad_lite.train import train


@pytest.fixture(scope="module")
def quick_run(quick_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "quick"
    train(preset("quick", epochs=2), quick_data, run, progress=False)
    return run


@pytest.mark.parametrize("update", [False, True])
def test_scores_do_not_depend_on_batch_size(quick_run, quick_data, update):
    model, config = load_run(quick_run)
    videos = open_dataset(quick_data).test
    config.gamma = 1.0  # every frame updates the memory: the hardest case for batching
    results = [
        score_videos(copy.deepcopy(model), videos, config, update, batch_size=b) for b in (1, 3, 16)
    ]
    for other in results[1:]:
        for key in ("psnr", "distance", "regular"):
            np.testing.assert_allclose(
                getattr(other, key), getattr(results[0], key), rtol=1e-4, atol=1e-6
            )
        assert np.array_equal(other.updated, results[0].updated)
    assert results[0].updated.all() == update


def test_test_time_update_changes_the_memory_only_below_gamma(quick_run, quick_data):
    model, config = load_run(quick_run)
    videos = open_dataset(quick_data).test
    trained = model.memory.items.clone()
    config.gamma = 0.0  # no frame is "normal enough"
    none = score_videos(model, videos, config, True)
    assert not none.updated.any() and torch.equal(model.memory.items, trained)
    config.gamma = 1.0
    every = score_videos(model, videos, config, True)
    assert every.updated.all() and not torch.allclose(model.memory.items, trained)
    # frames after the first update read different items: distances change
    assert not np.allclose(every.distance[1:], none.distance[1:])
    assert every.distance[0] == pytest.approx(none.distance[0], rel=1e-6)


def test_evaluate_writes_results(quick_run, quick_data):
    report = evaluate(quick_run, quick_data, device="cpu", progress=False)
    info = open_dataset(quick_data).info()
    expected_frames = info["test_frames"] - 4 * info["test_videos"]  # first 4 have no target
    assert report["frames"] == expected_frames
    for key in ("frame_auc", "frame_auc_global", "frame_auc_macro", "psnr_auc", "eer", "ap"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["pixel_auc"] is not None and 0 <= report["pixel_auc"] <= 1
    assert set(report["per_kind_auc"]) <= {
        "cyclist",
        "cart",
        "skateboarder",
        "runner",
        "grass_walker",
    }
    assert report["per_kind_auc"]
    saved = json.loads((quick_run / "eval.json").read_text())
    assert saved["frame_auc"] == report["frame_auc"]
    with open(quick_run / "scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == expected_frames
    assert {"video", "frame", "label", "psnr", "feature_distance", "regular_score", "score"} <= (
        rows[0].keys()
    )
    assert int(rows[0]["frame"]) == 4
    labels = np.array([int(r["label"]) for r in rows])
    assert labels.sum() == report["anomalous_frames"]
    for name in report["figures"]:
        assert (quick_run / "figures").exists() and name.endswith(".png")
    assert "frame AUC" in format_report(report)


def test_footage_without_labels_still_gets_scores_and_figures(quick_run, quick_data, tmp_path):
    """A practitioner's own test video: no ground truth, so scores and pictures, no AUCs."""
    import shutil

    mine = tmp_path / "mine"
    shutil.copytree(quick_data / "training", mine / "training")
    shutil.copytree(quick_data / "testing" / "frames", mine / "testing" / "frames")
    run = tmp_path / "run"
    shutil.copytree(
        quick_run, run, ignore=shutil.ignore_patterns("eval.json", "scores.csv", "figures")
    )
    report = evaluate(run, mine, device="cpu", progress=False)
    assert report["frame_auc"] is None and report["anomalous_frames"] is None
    assert report["frames"] > 0 and (run / "figures" / "score_curves.png").exists()
    with open(run / "scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == report["frames"] and rows[0]["label"] == ""
    assert "no labels" in format_report(report)


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

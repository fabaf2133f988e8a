"""Evaluation: batch-size independence, the test-time update, the files it writes."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_png, assert_report_matches_scores

from mnad_lite.cli.tables import format_report
from mnad_lite.data import open_dataset
from mnad_lite.engine.evaluation import evaluate
from mnad_lite.engine.inference import load_run, score_videos


def assert_per_kind_terms_match_scores(report: dict, run: Path, data: Path) -> None:
    """``per_kind_auc_terms``: every term of the score, judged per kind, equals its
    recomputation from scores.csv and the synthetic manifest; its paper-protocol entry
    is ``per_kind_auc``."""
    from mnad_lite.metrics import TERMS, per_kind_auc, term_scores
    from mnad_lite.research.summary import read_scores_csv

    terms = report["per_kind_auc_terms"]
    assert tuple(terms) == TERMS  # a memory run: D only is there
    assert terms["frame_auc"] == report["per_kind_auc"]
    cols = read_scores_csv(run / "scores.csv")
    ids = np.unique(cols["video"], return_inverse=True)[1]
    again = term_scores(cols["psnr"], cols["feature_distance"], ids, report["lambda_score"])
    events = open_dataset(data).events
    for term, scores in again.items():
        ref = per_kind_auc(scores, cols["label"], cols["video"], cols["frame"], events)
        assert terms[term].keys() == ref.keys(), term
        for kind in ref:
            assert terms[term][kind]["auc"] == pytest.approx(ref[kind]["auc"], abs=1e-4)
            assert terms[term][kind]["frames"] == ref[kind]["frames"]


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
    assert_report_matches_scores(quick_run)  # every AUC again, from scores.csv alone
    assert report["pixel_auc"] is not None and report["pixel_auc"] > 0.5  # errors sit on anomalies
    assert set(report["per_kind_auc"]) <= {
        "cyclist",
        "cart",
        "skateboarder",
        "runner",
        "grass_walker",
    }
    assert report["per_kind_auc"]
    assert_per_kind_terms_match_scores(report, quick_run, quick_data)
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
    assert [Path(p).name for p in report["figures"]] == ["score_curves.png", "error_maps.png"]
    for name in report["figures"]:
        assert_png(name)
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
    assert report["frames"] > 0
    assert_png(run / "figures" / "score_curves.png")
    with open(run / "scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == report["frames"] and rows[0]["label"] == ""
    assert "no labels" in format_report(report)


def test_forms_from_the_configuration_reach_the_scores(quick_run, quick_data):
    """psnr_form, distance_form and score_form select the paper's Eqs. 14, 15 and 6."""
    from mnad_lite.memory import feature_distance, flatten_queries
    from mnad_lite.scoring import psnr, regular_score

    model, config = load_run(quick_run)
    videos = open_dataset(quick_data).test[:1]
    code = score_videos(copy.deepcopy(model), videos, config, False)
    config.psnr_form = config.distance_form = config.score_form = "paper"
    paper = score_videos(copy.deepcopy(model), videos, config, False)
    for key in ("psnr", "distance", "regular"):
        assert not np.allclose(getattr(code, key), getattr(paper, key)), key
    # recompute frame 0 of the paper forms straight from the model
    from mnad_lite.data import ClipDataset, split_clip

    clip = ClipDataset(videos, config.t_length, config.size, config.channels)[0][None]
    x, target = split_clip(clip, config.method)
    with torch.no_grad():
        out = model.eval()(x, update_memory=False)
    q = flatten_queries(out.queries)
    assert paper.psnr[0] == pytest.approx(psnr(out.prediction, target, "paper").item(), rel=1e-5)
    assert paper.regular[0] == pytest.approx(
        regular_score(out.prediction, target, "paper").item(), rel=1e-5
    )
    expected_d = feature_distance(q, model.memory.items, form="paper").item()
    assert paper.distance[0] == pytest.approx(expected_d, rel=1e-5)


def test_load_run_refuses_a_checkpoint_without_its_configuration(quick_run, tmp_path):
    from mnad_lite.engine.checkpoint import read_checkpoint, save_checkpoint
    from mnad_lite.errors import ConfigError

    model, _ = load_run(quick_run)
    payload = read_checkpoint(quick_run / "model.pt")
    (tmp_path / "run").mkdir()
    save_checkpoint(tmp_path / "run" / "model.pt", model, {"model": payload["config"]["model"]})
    with pytest.raises(ConfigError, match="holds no run configuration"):
        load_run(tmp_path / "run")


def test_the_paper_protocol_writes_no_alert_numbers(quick_run, quick_data, tmp_path):
    """The core evaluation is the paper's protocol: no calibration file, no online score,
    no flags; the alert keys are the alert tools' (mnad_lite.alerts.evaluation)."""
    report = evaluate(quick_run, quick_data, figures=False, progress=False, out=tmp_path)
    assert not {"frame_auc_online", "localization", "calibration", "threshold"} & report.keys()
    assert not (tmp_path / "calibration.json").exists()
    with open(tmp_path / "scores.csv") as fh:
        header = next(csv.reader(fh))
    assert "score_online" not in header and "flagged" not in header

"""Test-time probes: each cut of the trained model, judged on the test videos."""

from __future__ import annotations

import json

import pytest

from mnad_lite.engine.config import preset
from mnad_lite.engine.evaluation import evaluate
from mnad_lite.engine.train import train


def test_probe_run_reports_each_cut(quick_run, quick_data, tmp_path):
    from mnad_lite.research.probe import probe_run

    report = probe_run(quick_run, quick_data, out=tmp_path)
    probes = report["probes"]
    assert set(probes) == {"base", "mean_item", "no_read", "no_query", "no_deep_skip"}
    # the base equals a plain evaluation with the test-time update off
    plain = evaluate(
        quick_run, quick_data, test_update=False, figures=False, progress=False, out=tmp_path / "e"
    )
    assert probes["base"]["frame_auc"] == pytest.approx(plain["frame_auc"], abs=1e-9)
    for name in ("mean_item", "no_read", "no_query", "no_deep_skip"):
        p = probes[name]
        assert p["change_ratio"] > 0, name
        assert p["auc_change"] == pytest.approx(p["frame_auc"] - probes["base"]["frame_auc"])
    assert json.loads((tmp_path / "probe.json").read_text()) == report


def test_probe_run_leaves_out_the_deep_skip_cut_of_a_model_without_it(quick_data, tmp_path):
    """A run trained with deep_skip=False (beyond the paper) has no deepest skip to cut:
    its probe reports the other cuts, each of which moves the prediction."""
    from mnad_lite.research.probe import probe_run

    run = tmp_path / "no-deep-skip"
    train(preset("quick", epochs=1, max_steps=4, deep_skip=False), quick_data, run, progress=False)
    probes = probe_run(run, quick_data, out=tmp_path)["probes"]
    assert set(probes) == {"base", "mean_item", "no_read", "no_query"}
    assert all(probes[name]["change_ratio"] > 0 for name in ("mean_item", "no_read", "no_query"))

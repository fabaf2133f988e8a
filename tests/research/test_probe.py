"""Test-time probes: each cut of the trained model, judged on the test videos."""

from __future__ import annotations

import json

import pytest
import torch

from mnad_lite.engine.config import preset
from mnad_lite.engine.evaluation import evaluate
from mnad_lite.engine.train import train
from mnad_lite.errors import MNADError
from mnad_lite.model import MNAD
from mnad_lite.research.probe import PROBES, cut


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


@pytest.mark.parametrize("use_memory", [True, False])
def test_probes_cut_exactly_one_path(use_memory):
    torch.manual_seed(0)
    # BatchNorm on batch statistics: an untrained net in eval mode can have a dead (all
    # ReLU-zero) decoder path, where no cut would show
    model = MNAD("pred", in_channels=1, width=4, use_memory=use_memory).train()
    x = torch.randn(2, 4, 32, 32)
    with torch.no_grad():
        z, skips = model.encode(x)
        base = model.decode(z, skips, False).prediction
        cuts = {p: model.decode(z, skips, False, cut(p, model)).prediction for p in PROBES}
    assert all(c.shape == base.shape for c in cuts.values())
    assert not torch.allclose(cuts["no_deep_skip"], base)
    assert not torch.allclose(cuts["no_query"], base)
    if use_memory:
        assert not torch.allclose(cuts["no_read"], base)
        assert not torch.allclose(cuts["mean_item"], cuts["no_read"])
    else:  # nothing to cut on the memory side
        torch.testing.assert_close(cuts["no_read"], base)
        torch.testing.assert_close(cuts["mean_item"], base)
    # a probe never changes the memory or the skips it was given
    assert all(s.abs().sum() > 0 for s in skips)
    with pytest.raises(MNADError, match="probe must be one of"):
        cut("no_memory", model)


def test_the_deep_skip_cut_needs_a_deepest_skip():
    model = MNAD("pred", in_channels=1, width=4, deep_skip=False)
    with pytest.raises(MNADError, match="no_deep_skip: this model's decoder has no deepest"):
        cut("no_deep_skip", model)


def test_mean_item_probe_reads_the_mean_item():
    torch.manual_seed(1)
    model = MNAD("pred", in_channels=1, width=4).eval()
    z, skips = model.encode(torch.randn(1, 4, 16, 16))
    seen = {}
    hook = model.decoder.inner.register_forward_pre_hook(lambda m, a: seen.update(x=a[0]))
    with torch.no_grad():
        model.decode(z, skips, False, cut("mean_item", model))
    hook.remove()
    c = model.feat_dim
    expected = model.memory.items.mean(0)[None, :, None, None].expand(1, c, 2, 2)
    torch.testing.assert_close(seen["x"][:, c:], expected)

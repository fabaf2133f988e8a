"""The course widgets: what each pure function computes, and what a slider change does.

The notebooks 02 and 03 show these pictures; here every claim the notebooks make about
them is checked without a browser: more items can spread the queries over more items,
the two weight normalisations of Eq. 5 move the items differently, the separateness
weight pushes the items apart, and each widget's callback recomputes for a new value.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mnad_lite.course.widgets import (  # noqa: E402
    item_distances,
    memory_assignment,
    memory_widget,
    nearest_items,
    one_thread,
    pca_2d,
    plot_memory_assignment,
    plot_toy_losses,
    toy_anchors,
    toy_losses,
    toy_widget,
)
from mnad_lite.errors import MNADError  # noqa: E402
from mnad_lite.memory import compactness_loss, separateness_loss  # noqa: E402

widgets = pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def query_maps() -> torch.Tensor:
    """Diverse raw query maps of 3 frames: ``[T=3, C=8, h=5, w=7]``."""
    return torch.randn(3, 8, 5, 7, generator=torch.Generator().manual_seed(0))


# --- memory_assignment -------------------------------------------------------------------


def test_memory_assignment_shapes(query_maps):
    r = memory_assignment(query_maps, num_items=6, steps=4)
    assert r["assignment"].shape == r["assignment_start"].shape == (5, 7)
    assert r["usage"].shape == r["usage_start"].shape == (6,)
    assert r["usage"].sum() == r["usage_start"].sum() == 3 * 5 * 7  # every query picks one
    assert r["trajectory"].shape == (5, 6, 8) and r["pca"].shape == (5, 6, 2)
    assert r["moved"].shape == (6,) and r["num_items"] == 6
    assert r["distinct"] == int((r["usage"] > 0).sum())
    norms = np.linalg.norm(r["trajectory"], axis=2)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)  # f = L2 normalisation (Eq. 4)


def test_memory_assignment_is_deterministic(query_maps):
    a = memory_assignment(query_maps, 5, "assigned", 6, seed=3)
    b = memory_assignment(query_maps, 5, "assigned", 6, seed=3)
    for key in ("assignment", "usage", "trajectory", "pca"):
        np.testing.assert_array_equal(a[key], b[key])
    c = memory_assignment(query_maps, 5, "assigned", 6, seed=4)
    assert not np.array_equal(a["trajectory"][0], c["trajectory"][0])  # seed = initial items


def test_more_items_allow_more_distinct_assignments(query_maps):
    results = {m: memory_assignment(query_maps, m, steps=8) for m in (1, 2, 16)}
    distinct = {m: r["distinct"] for m, r in results.items()}
    for m, r in results.items():  # "distinct": items some query (of any frame) picks at the end
        assert distinct[m] == int((r["usage"] > 0).sum()), m
        assert r["usage"].sum() == query_maps.shape[0] * query_maps[0, 0].numel(), m
    assert distinct[1] == 1
    assert distinct[2] == 2  # both items are used on these query maps
    assert distinct[16] > distinct[2]


def test_assignment_matches_nearest_item(query_maps):
    r = memory_assignment(query_maps, 4, steps=3)
    q = torch.nn.functional.normalize(query_maps[0], dim=0).flatten(1).t()  # frame 0 [h*w, C]
    items = torch.from_numpy(r["trajectory"][-1])
    assert np.array_equal(r["assignment"].ravel(), nearest_items(q, items).numpy())


def test_weight_norms_move_items_differently(query_maps):
    every = memory_assignment(query_maps, 6, "all", steps=5)
    assigned = memory_assignment(query_maps, 6, "assigned", steps=5)
    np.testing.assert_array_equal(every["trajectory"][0], assigned["trajectory"][0])
    assert not np.allclose(every["trajectory"][-1], assigned["trajectory"][-1], atol=1e-4)
    # "assigned" gives weight 1 to at least one query per selected item, so its first
    # step moves the items at least as far as "all"
    step = np.linalg.norm(every["trajectory"][1] - every["trajectory"][0], axis=1)
    step_assigned = np.linalg.norm(assigned["trajectory"][1] - assigned["trajectory"][0], axis=1)
    assert np.all(step_assigned >= step - 1e-6)


def test_zero_steps_leave_the_items(query_maps):
    r = memory_assignment(query_maps, 5, steps=0)
    assert r["trajectory"].shape == (1, 5, 8)
    np.testing.assert_array_equal(r["assignment"], r["assignment_start"])
    np.testing.assert_array_equal(r["moved"], 0)


@pytest.mark.parametrize(
    "kwargs",
    [{"weight_norm": "max"}, {"num_items": 0}, {"steps": -1}],
)
def test_memory_assignment_refuses_bad_arguments(query_maps, kwargs):
    with pytest.raises(MNADError):
        memory_assignment(query_maps, **kwargs)
    with pytest.raises(MNADError, match=r"\[T, C, h, w\]"):
        memory_assignment(query_maps[0])


def test_pca_2d():
    pts = np.random.default_rng(0).standard_normal((4, 3, 6))
    proj = pca_2d(pts)
    assert proj.shape == (4, 3, 2)
    np.testing.assert_allclose(proj.reshape(-1, 2).mean(0), 0, atol=1e-5)  # centred
    var = proj.reshape(-1, 2).var(0)
    assert var[0] >= var[1]  # first axis explains the most
    np.testing.assert_array_equal(pca_2d(pts), proj)
    assert pca_2d(np.ones((5, 1))).shape == (5, 2)


def test_one_thread_restores_thread_count():
    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_item_distances():
    d = item_distances(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    assert torch.isinf(d.diagonal()).all()
    assert d[0, 2] == pytest.approx(2.0) and d[0, 1] == pytest.approx(2**0.5)


# --- toy_losses --------------------------------------------------------------------------


def test_toy_anchors_are_unit_vectors():
    a = toy_anchors(30, clusters=3, seed=1)
    assert a.shape == (30, 2)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(30))


def test_toy_losses_shapes_and_eq8():
    r = toy_losses(0.3, 0.2, steps=5, num_items=4, num_queries=12)
    assert r["queries"].shape == (6, 12, 2) and r["items"].shape == (6, 4, 2)
    for key in ("loss", "rec", "compact", "separate"):
        assert r[key].shape == (5,)
    assert r["item_min_distance"].shape == r["query_item_distance"].shape == (6,)
    assert r["nearest"].shape == (12,)
    # Eq. 8 as total_loss computes it
    np.testing.assert_allclose(
        r["loss"], r["rec"] + 0.3 * r["compact"] + 0.2 * r["separate"], rtol=1e-5
    )
    np.testing.assert_allclose(np.linalg.norm(r["items"], axis=2), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(r["queries"], axis=2), 1.0, atol=1e-5)
    assert r["rec"][0] == pytest.approx(0.0, abs=1e-12)  # queries start at their anchors


def test_toy_losses_first_step_uses_package_losses():
    r = toy_losses(0.1, 0.1, steps=1, num_items=5)
    q, p = torch.from_numpy(r["queries"][0]), torch.from_numpy(r["items"][0])
    assert r["compact"][0] == pytest.approx(float(compactness_loss(q, p)), rel=1e-5)
    assert r["separate"][0] == pytest.approx(float(separateness_loss(q, p)), rel=1e-5)


def test_separateness_pushes_items_apart():
    without = toy_losses(1.0, 0.0, steps=80)
    with_s = toy_losses(1.0, 1.0, steps=80)
    assert with_s["item_min_distance"][-1] > without["item_min_distance"][-1] + 0.1


def test_compactness_pulls_queries_to_items():
    neither = toy_losses(0.0, 0.0, steps=80)
    compact = toy_losses(1.0, 0.0, steps=80)
    assert compact["query_item_distance"][-1] < 0.8 * neither["query_item_distance"][-1]
    # with both weights at zero the queries stay at their anchors (up to Adam's rounding)
    np.testing.assert_allclose(neither["queries"][-1], neither["anchors"], atol=5e-3)


def test_toy_losses_needs_two_items():
    with pytest.raises(MNADError, match="num_items >= 2"):
        toy_losses(num_items=1)


# --- the widgets: a changed value runs the callback ----------------------------------------


def test_memory_widget_recomputes_on_change(query_maps):
    w = memory_widget(query_maps, steps=3, show=False)
    assert isinstance(w, widgets.interactive)
    assert set(w.kwargs) == {"num_items", "weight_norm", "steps"}
    assert w.result["num_items"] == 10 and w.result["usage"].shape == (10,)
    controls = {c.description: c for c in w.kwargs_widgets}
    controls["M (items)"].value = 4  # the slider's observer runs the callback
    assert w.result["num_items"] == 4 and w.result["usage"].shape == (4,)
    before = w.result["trajectory"]
    controls["weight_norm"].value = "assigned"
    assert w.kwargs["weight_norm"] == "assigned"
    assert not np.allclose(before[-1], w.result["trajectory"][-1], atol=1e-4)
    controls["updates"].value = 0
    assert w.result["trajectory"].shape[0] == 1


def test_toy_widget_recomputes_on_change():
    w = toy_widget(steps=40, show=False)
    assert isinstance(w, widgets.interactive)
    assert w.result["lambda_compact"] == pytest.approx(0.1)
    controls = {c.description: c for c in w.kwargs_widgets}
    controls["λ_s"].value = 1.0
    assert w.result["lambda_separate"] == pytest.approx(1.0)
    controls["M (items)"].value = 3
    assert w.result["items"].shape[1] == 3
    controls["λ_c"].value = 0.0
    assert w.kwargs == {"lambda_compact": 0.0, "lambda_separate": 1.0, "num_items": 3}


def test_widgets_draw(query_maps, capsys):
    import matplotlib.pyplot as plt

    result = memory_assignment(query_maps, 12, steps=2)
    fig = plot_memory_assignment(result, "title")
    assert len(fig.axes) == 4
    plt.close(fig)
    fig = plot_memory_assignment(result, frame=np.zeros((40, 56)))
    assert len(fig.axes) == 5
    plt.close(fig)
    fig = plot_toy_losses(toy_losses(steps=3))
    assert len(fig.axes) == 3
    plt.close(fig)
    w = toy_widget(steps=2)  # show=True: the callback draws without a front end
    controls = {c.description: c for c in w.kwargs_widgets}
    controls["λ_c"].value = 0.5
    assert w.result["lambda_compact"] == pytest.approx(0.5)
    assert plt.get_fignums() == []  # every drawn figure was closed


# --- 05: λ and γ from stored per-frame scores ------------------------------------------------


@pytest.fixture(scope="module")
def frame_scores():
    """Per-frame values of 4 videos: anomalies have a lower PSNR, a larger D and ε_t."""
    import types

    rng = np.random.default_rng(0)
    labels = (np.arange(200) % 50 >= 30).astype(int)
    return types.SimpleNamespace(
        psnr=30 - 1.5 * labels + rng.normal(size=200),
        distance=0.01 + 0.001 * labels + 0.004 * rng.normal(size=200),
        regular=np.exp(rng.normal(-4.0, 0.5, 200)) * (1 + 2 * labels),
        labels=labels,
        video_ids=np.arange(200) // 50,
    )


def test_score_choices_recomputes_eq16_and_the_update_rule(frame_scores):
    from mnad_lite.course.widgets import score_choices
    from mnad_lite.metrics import frame_auc
    from mnad_lite.scoring import anomaly_score

    s = frame_scores
    result = score_choices(s.psnr, s.distance, s.regular, s.labels, s.video_ids, 0.6, 0.02)
    expected = 100 * frame_auc(anomaly_score(s.psnr, s.distance, s.video_ids, 0.6), s.labels)
    assert result["auc"] == pytest.approx(expected)
    assert result["aucs"][12] == pytest.approx(expected)  # λ = 0.6 on the grid
    assert (result["would_update"] == (s.regular < 0.02)).all()
    assert result["updates_normal"] + result["updates_anomalous"] == int((s.regular < 0.02).sum())
    more = score_choices(s.psnr, s.distance, s.regular, s.labels, s.video_ids, 0.6, 0.05)
    assert more["would_update"].sum() >= result["would_update"].sum()  # a larger γ: more updates


def test_score_widget_slider_changes_the_result(frame_scores):
    from mnad_lite.course.widgets import plot_score_choices, score_widget

    w = score_widget(frame_scores, 0.6, 0.01, show=False)
    before = w.result["auc"]
    w.children[0].value = 0.0  # λ = 0: the distance alone
    assert w.result["lambda_score"] == 0.0 and w.result["auc"] != before
    w.children[1].value = -1.0  # γ = 0.1
    assert w.result["gamma"] == pytest.approx(0.1)
    fig = plot_score_choices(w.result, reference_gamma=0.02)
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)


def test_with_picture_offers_widget_and_png(frame_scores):
    import base64

    from mnad_lite.course.widgets import (
        plot_score_choices,
        score_choices,
        score_widget,
        with_picture,
    )

    s = frame_scores
    result = score_choices(s.psnr, s.distance, s.regular, s.labels, s.video_ids)
    bundle = with_picture(
        score_widget(s, show=False), plot_score_choices(result)
    )._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # live front ends: the widget
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")  # static pages: the picture
    assert "interactive(" not in bundle["text/plain"]

"""Tests for mnad_lite.scoring: Eqs. 6-7 and 14-17, AUC, EER, AP (MNAD.md sections 3, 4, 6).

Each function is compared with a plain loop written from the equation.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from mnad_lite.errors import MNADError
from mnad_lite.metrics import (
    TABLE_KEYS,
    TERMS,
    average_precision,
    eer_threshold,
    equal_error_rate,
    evaluation_table,
    frame_auc,
    single_class_videos,
    term_scores,
)
from mnad_lite.scoring import (
    anomaly_score,
    minmax,
    normalize,
    psnr,
    regular_score,
)


def random_frames(shape=(3, 3, 5, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    pred = torch.rand(shape, generator=g) * 2 - 1
    target = torch.rand(shape, generator=g) * 2 - 1
    return pred, target


# --- Eq. 14: PSNR ------------------------------------------------------------------------


def ref_psnr(pred, target, form):
    out = []
    for p, t in zip(pred.double().numpy(), target.double().numpy(), strict=True):
        p, t = (p + 1) / 2, (t + 1) / 2  # [-1, 1] -> [0, 1]
        mse = np.mean((p - t) ** 2)
        peak = 1.0 if form == "code" else p.max()  # paper: max(Î_t)
        out.append(10 * math.log10(peak**2 / mse))
    return np.array(out)


@pytest.mark.parametrize("form", ["code", "paper"])
@pytest.mark.parametrize("shape", [(3, 3, 5, 4), (2, 1, 8, 6)])
def test_psnr_matches_eq_14(form, shape):
    pred, target = random_frames(shape)
    got = psnr(pred, target, form=form)
    assert got.shape == (shape[0],)
    np.testing.assert_allclose(got.numpy(), ref_psnr(pred, target, form), rtol=1e-5)


def test_psnr_default_is_code_form_and_forms_differ():
    pred, target = random_frames()
    torch.testing.assert_close(psnr(pred, target), psnr(pred, target, form="code"))
    assert not torch.allclose(psnr(pred, target, "code"), psnr(pred, target, "paper"))


def test_psnr_known_value():
    """Î = 0, I = -1 in [-1, 1]: on [0, 1] the error is 0.5 everywhere, mse = 0.25."""
    pred, target = torch.zeros(1, 1, 4, 4), -torch.ones(1, 1, 4, 4)
    assert psnr(pred, target).item() == pytest.approx(10 * math.log10(4), rel=1e-6)
    # paper peak max(Î) = 0.5 on [0, 1]: 10 log10(0.25 / 0.25) = 0
    assert psnr(pred, target, "paper").item() == pytest.approx(0.0, abs=1e-5)


def test_psnr_perfect_prediction_is_finite():
    pred, _ = random_frames()
    assert torch.isfinite(psnr(pred, pred)).all()


def test_psnr_rejects_bad_shapes_and_form():
    pred, target = random_frames()
    with pytest.raises(MNADError):
        psnr(pred, target[:, :2])
    with pytest.raises(MNADError):
        psnr(pred[0], target[0])
    with pytest.raises(MNADError):
        psnr(pred, target, form="other")


# --- Eqs. 6-7: weighted regular score ------------------------------------------------------


def ref_regular_score(pred, target, form):
    """eps_t = sum_ij W_ij e_ij, W_ij = (1 - exp(-e_ij)) / sum_ij (1 - exp(-e_ij))."""
    p = (pred.double().numpy() + 1) / 2
    t = (target.double().numpy() + 1) / 2
    b, c, h, w = p.shape
    out = []
    for n in range(b):
        errors = []
        if form == "code":  # squared error of every element on [0, 1]
            for ch, i, j in product(range(c), range(h), range(w)):
                errors.append((p[n, ch, i, j] - t[n, ch, i, j]) ** 2)
        else:  # ||Î^{ij} - I^{ij}||_2 over channels
            for i, j in product(range(h), range(w)):
                errors.append(
                    math.sqrt(sum((p[n, ch, i, j] - t[n, ch, i, j]) ** 2 for ch in range(c)))
                )
        denom = sum(1 - math.exp(-e) for e in errors)
        out.append(sum((1 - math.exp(-e)) / denom * e for e in errors))
    return np.array(out)


@pytest.mark.parametrize("form", ["code", "paper"])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 1, 6, 4)])
def test_regular_score_matches_eqs_6_7(form, shape):
    pred, target = random_frames(shape, seed=3)
    got = regular_score(pred, target, form=form)
    assert got.shape == (shape[0],)
    np.testing.assert_allclose(got.numpy(), ref_regular_score(pred, target, form), rtol=1e-5)


def test_regular_score_default_is_code_form_and_forms_differ_in_colour():
    pred, target = random_frames((2, 3, 4, 4))
    torch.testing.assert_close(regular_score(pred, target), regular_score(pred, target, "code"))
    assert not torch.allclose(
        regular_score(pred, target, "code"), regular_score(pred, target, "paper")
    )


def test_regular_score_of_perfect_prediction_is_zero():
    pred, _ = random_frames()
    got = regular_score(pred, pred)
    assert torch.isfinite(got).all()
    assert torch.equal(got, torch.zeros_like(got))


def test_regular_score_rejects_bad_input():
    pred, target = random_frames()
    with pytest.raises(MNADError):
        regular_score(pred, target[:1])
    with pytest.raises(MNADError):
        regular_score(pred, target, form="other")


# --- Eq. 17: min-max, per video or global ----------------------------------------------------


def ref_minmax(x):
    x = [float(v) for v in x]
    lo, hi = min(x), max(x)
    return np.array([(v - lo) / (hi - lo) if hi > lo else 0.0 for v in x])


def ref_normalize_per_video(values, video_ids):
    out = np.zeros(len(values))
    for vid in set(video_ids.tolist()):
        idx = [i for i, v in enumerate(video_ids) if v == vid]
        for i, g in zip(idx, ref_minmax([values[i] for i in idx]), strict=True):
            out[i] = g
    return out


def test_minmax_matches_reference():
    x = np.array([3.0, -1.0, 7.5, 2.0, 7.5])
    np.testing.assert_allclose(minmax(x), ref_minmax(x))
    assert minmax(x).min() == 0 and minmax(x).max() == 1


def test_minmax_constant_gives_zeros():
    out = minmax(np.full(5, 4.2))
    assert np.array_equal(out, np.zeros(5))
    assert minmax(np.array([])).size == 0


RNG = np.random.default_rng(0)
VALUES = RNG.normal(30, 5, 20)
VIDEOS = np.array([0, 0, 2, 2, 2, 1, 1, 0, 1, 1, 2, 0, 5, 5, 5, 5, 0, 1, 2, 2])  # interleaved


def test_normalize_per_video_matches_reference():
    got = normalize(VALUES, VIDEOS)
    np.testing.assert_allclose(got, ref_normalize_per_video(VALUES, VIDEOS), rtol=1e-12)
    for vid in np.unique(VIDEOS):
        sel = VIDEOS == vid
        assert got[sel].min() == 0 and got[sel].max() == 1  # each video spans 0..1


def test_normalize_constant_video_gives_zeros():
    values = np.array([1.0, 2.0, 5.0, 5.0, 5.0])
    ids = np.array([0, 0, 1, 1, 1])
    np.testing.assert_array_equal(normalize(values, ids), [0, 1, 0, 0, 0])


def test_normalize_global():
    got = normalize(VALUES, VIDEOS, "global")
    np.testing.assert_allclose(got, ref_minmax(VALUES), rtol=1e-12)
    assert not np.allclose(got, normalize(VALUES, VIDEOS, "video"))


def test_normalize_accepts_row_arrays_and_tensors():
    got = normalize(VALUES[None, :], VIDEOS[None, :])
    np.testing.assert_allclose(got, normalize(VALUES, VIDEOS))
    got_t = normalize(torch.tensor(VALUES), torch.tensor(VIDEOS))
    np.testing.assert_allclose(got_t, normalize(VALUES, VIDEOS))


def test_normalize_errors():
    with pytest.raises(MNADError):
        normalize(VALUES, VIDEOS[:-1])
    with pytest.raises(MNADError):
        normalize(VALUES, VIDEOS, "per-frame")
    with pytest.raises(MNADError):
        normalize(VALUES.reshape(4, 5), VIDEOS.reshape(4, 5))


# --- Eq. 16: anomaly score -----------------------------------------------------------------

DISTANCES = RNG.uniform(0, 0.1, 20)


@pytest.mark.parametrize("lam", [0.0, 0.6, 0.7, 1.0])
def test_anomaly_score_matches_eq_16(lam):
    got = anomaly_score(VALUES, DISTANCES, VIDEOS, lambda_score=lam)
    g_p = ref_normalize_per_video(VALUES, VIDEOS)
    g_d = ref_normalize_per_video(DISTANCES, VIDEOS)
    expected = [lam * (1 - g_p[i]) + (1 - lam) * g_d[i] for i in range(len(VALUES))]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # the authors' formulation: 1 - [lam g(P) + (1 - lam)(1 - g(D))]
    authors = 1 - (lam * g_p + (1 - lam) * (1 - g_d))
    np.testing.assert_allclose(got, authors, rtol=1e-12, atol=1e-12)
    assert got.min() >= 0 and got.max() <= 1


def test_anomaly_score_default_lambda_and_global():
    np.testing.assert_allclose(
        anomaly_score(VALUES, DISTANCES, VIDEOS), anomaly_score(VALUES, DISTANCES, VIDEOS, 0.6)
    )
    got = anomaly_score(VALUES, DISTANCES, VIDEOS, 0.6, "global")
    expected = 0.6 * (1 - ref_minmax(VALUES)) + 0.4 * ref_minmax(DISTANCES)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_anomaly_score_psnr_only():
    got = anomaly_score(VALUES, None, VIDEOS)
    np.testing.assert_allclose(got, 1 - ref_normalize_per_video(VALUES, VIDEOS), rtol=1e-12)


@pytest.mark.parametrize("lam", [-0.1, 1.5])
def test_anomaly_score_rejects_lambda_out_of_range(lam):
    with pytest.raises(MNADError):
        anomaly_score(VALUES, DISTANCES, VIDEOS, lambda_score=lam)


# --- frame AUC -------------------------------------------------------------------------------


def ref_auc(scores, labels):
    """Probability that an anomalous frame scores above a normal one (ties count 1/2)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


# four videos: 0 and 2 mixed, 1 all anomalous, 3 all normal
AUC_VIDEOS = np.repeat([0, 1, 2, 3], [8, 5, 9, 6])
AUC_LABELS = np.concatenate(
    [[0, 0, 1, 1, 1, 0, 0, 0], [1] * 5, [0, 0, 0, 0, 1, 1, 1, 0, 0], [0] * 6]
)
AUC_SCORES = np.round(np.random.default_rng(1).uniform(0, 1, len(AUC_LABELS)), 2) + 0.2 * AUC_LABELS


def test_micro_auc_matches_sklearn_and_pairwise_reference():
    got = frame_auc(AUC_SCORES, AUC_LABELS)
    assert got == pytest.approx(roc_auc_score(AUC_LABELS, AUC_SCORES), abs=1e-12)
    assert got == pytest.approx(ref_auc(AUC_SCORES, AUC_LABELS), abs=1e-12)
    # video_ids do not change the micro AUC
    assert frame_auc(AUC_SCORES, AUC_LABELS, AUC_VIDEOS) == got


def test_macro_auc_skips_single_class_videos():
    per_video = [ref_auc(AUC_SCORES[AUC_VIDEOS == v], AUC_LABELS[AUC_VIDEOS == v]) for v in (0, 2)]
    got = frame_auc(AUC_SCORES, AUC_LABELS, AUC_VIDEOS, average="macro")
    assert got == pytest.approx(np.mean(per_video), abs=1e-12)
    assert got != pytest.approx(frame_auc(AUC_SCORES, AUC_LABELS), abs=1e-6)
    assert [int(v) for v in single_class_videos(AUC_LABELS, AUC_VIDEOS)] == [1, 3]


def test_macro_auc_error_policy_raises():
    with pytest.raises(MNADError, match="video 1"):
        frame_auc(AUC_SCORES, AUC_LABELS, AUC_VIDEOS, average="macro", single_class="error")
    mixed = np.isin(AUC_VIDEOS, (0, 2))
    frame_auc(
        AUC_SCORES[mixed], AUC_LABELS[mixed], AUC_VIDEOS[mixed], "macro", single_class="error"
    )


def test_macro_auc_nan_when_every_video_is_single_class():
    labels = np.array([0, 0, 1, 1])
    assert math.isnan(frame_auc(np.arange(4.0), labels, np.array([0, 0, 1, 1]), "macro"))


def test_macro_auc_needs_video_ids():
    with pytest.raises(MNADError):
        frame_auc(AUC_SCORES, AUC_LABELS, average="macro")


def test_auc_rejects_unknown_average():
    with pytest.raises(MNADError):
        frame_auc(AUC_SCORES, AUC_LABELS, AUC_VIDEOS, average="weighted")


def test_micro_auc_needs_both_classes():
    with pytest.raises(MNADError):
        frame_auc(np.arange(4.0), np.zeros(4))


def test_row_label_arrays_accepted():
    """Label files often hold (1, N) arrays: same result as 1-D."""
    expected = frame_auc(AUC_SCORES, AUC_LABELS)
    assert frame_auc(AUC_SCORES, AUC_LABELS[None, :]) == expected
    assert frame_auc(AUC_SCORES[None, :], AUC_LABELS[:, None]) == expected
    assert equal_error_rate(AUC_SCORES, AUC_LABELS[None, :]) == equal_error_rate(
        AUC_SCORES, AUC_LABELS
    )
    assert frame_auc(AUC_SCORES, AUC_LABELS[None, :], AUC_VIDEOS[None, :], "macro") == frame_auc(
        AUC_SCORES, AUC_LABELS, AUC_VIDEOS, "macro"
    )


@pytest.mark.parametrize("fn", [frame_auc, equal_error_rate, eer_threshold, average_precision])
def test_mismatched_lengths_name_both(fn):
    with pytest.raises(MNADError) as info:
        fn(np.arange(7.0), np.array([0, 1, 0, 1, 1]))
    msg = str(info.value)
    assert "7" in msg and "5" in msg
    assert "scores" in msg and "labels" in msg


def test_mismatched_video_ids_name_both():
    with pytest.raises(MNADError) as info:
        frame_auc(AUC_SCORES, AUC_LABELS, AUC_VIDEOS[:-3], "macro")
    msg = str(info.value)
    assert str(len(AUC_SCORES)) in msg and str(len(AUC_SCORES) - 3) in msg


@pytest.mark.parametrize("labels", [[0, 1, 2, 0], [0, 0.5, 1, 1], [-1, 1, 1, 0]])
@pytest.mark.parametrize("fn", [frame_auc, equal_error_rate, average_precision])
def test_labels_must_be_binary(fn, labels):
    with pytest.raises(MNADError, match="0"):
        fn(np.arange(4.0), np.array(labels))


def test_labels_with_two_dimensions_rejected():
    with pytest.raises(MNADError):
        frame_auc(np.arange(4.0), np.array([[0, 1], [1, 0]]))


# --- EER and AP ------------------------------------------------------------------------------


def brute_force_eer(scores, labels):
    """Every threshold t (frame anomalous iff score >= t): the point where the miss rate
    and the false positive rate are closest; EER = their mean there. Returns (eer, t)."""
    scores, labels = np.asarray(scores, float), np.asarray(labels)
    pos, neg = (labels == 1).sum(), (labels == 0).sum()
    candidates = []
    for t in [math.inf, *sorted(set(scores.tolist()), reverse=True)]:
        flagged = scores >= t
        fpr = (flagged & (labels == 0)).sum() / neg
        fnr = (~flagged & (labels == 1)).sum() / pos
        candidates.append((abs(fnr - fpr), (fpr + fnr) / 2, t))
    best = min(c[0] for c in candidates)
    winners = [c for c in candidates if c[0] == best]
    assert len(winners) == 1, "hand-made case must have one EER point"
    return winners[0][1], winners[0][2]


def test_eer_zero_on_perfect_separation():
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    labels = np.array([0, 0, 0, 1, 1])
    assert equal_error_rate(scores, labels) == 0.0
    t = eer_threshold(scores, labels)
    assert 0.3 < t <= 0.8  # separates the two classes


def test_eer_one_on_perfectly_wrong_scores():
    assert equal_error_rate(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 1.0


def test_eer_hand_made_case():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.55, 0.3, 0.65])
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 1, 0, 1])
    eer, t = brute_force_eer(scores, labels)
    assert equal_error_rate(scores, labels) == pytest.approx(eer, abs=1e-12)
    assert eer_threshold(scores, labels) == pytest.approx(t)


COLLINEAR = (
    np.array([8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]),
    np.array([1, 1, 0, 0, 0, 0, 1, 1]),
)


def test_eer_on_a_collinear_run_of_the_roc():
    """Ranked labels 1,1,0,0,0,0,1,1: the EER point (threshold 5: FPR = FNR = 0.5) lies
    in the middle of a horizontal run of the ROC curve. The EER must be found at every
    threshold, not only at the corners that sklearn's roc_curve keeps by default
    (drop_intermediate=True)."""
    assert brute_force_eer(*COLLINEAR) == (0.5, 5.0)
    assert equal_error_rate(*COLLINEAR) == pytest.approx(0.5, abs=1e-12)


def test_eer_threshold_on_a_collinear_run_of_the_roc():
    """The threshold of the EER point above: 5 (FPR = FNR = 0.5), not a corner."""
    assert eer_threshold(*COLLINEAR) == pytest.approx(5.0)


def ref_average_precision(scores, labels):
    """Mean over anomalous frames of the precision at their rank (distinct scores)."""
    order = np.argsort(-np.asarray(scores))
    hits, total = 0, 0.0
    for rank, i in enumerate(order, start=1):
        if labels[i] == 1:
            hits += 1
            total += hits / rank
    return total / int(np.sum(labels))


def test_average_precision_matches_sklearn_and_reference():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.55, 0.3, 0.65])
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 1, 0, 1])
    got = average_precision(scores, labels)
    assert got == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert got == pytest.approx(ref_average_precision(scores, labels), abs=1e-12)
    assert average_precision(AUC_SCORES, AUC_LABELS) == pytest.approx(
        average_precision_score(AUC_LABELS, AUC_SCORES), abs=1e-12
    )


# --- the evaluation table --------------------------------------------------------------------


def offset_videos():
    """Two videos with the same shape of PSNR curve but a 20 dB offset: per-video
    normalisation lines them up (AUC 1); one global min-max does not."""
    psnr_values = np.array([40.0, 41.0, 30.0, 39.0, 20.0, 21.0, 10.0, 19.0])
    distances = np.array([0.01, 0.01, 0.05, 0.02, 0.03, 0.03, 0.07, 0.04])
    labels = np.array([0, 0, 1, 0, 0, 0, 1, 0])
    video_ids = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    return psnr_values, distances, labels, video_ids


def test_evaluation_table_keys_and_values():
    p, d, y, v = offset_videos()
    table = evaluation_table(p, d, y, v, lambda_score=0.6)
    assert set(table) == {
        "frame_auc",
        "frame_auc_global",
        "frame_auc_macro",
        "psnr_auc",
        "distance_auc",
        "eer",
        "ap",
        "macro_videos_skipped",
    }
    assert tuple(table) == TABLE_KEYS  # the order evaluate and the scripts report
    assert all(isinstance(x, float) for x in table.values())
    paper = anomaly_score(p, d, v, 0.6, "video")
    assert table["frame_auc"] == pytest.approx(ref_auc(paper, y))
    assert table["frame_auc_global"] == pytest.approx(
        ref_auc(anomaly_score(p, d, v, 0.6, "global"), y)
    )
    assert table["frame_auc_macro"] == pytest.approx(frame_auc(paper, y, v, "macro"))
    assert table["psnr_auc"] == pytest.approx(ref_auc(1 - ref_normalize_per_video(p, v), y))
    assert table["distance_auc"] == pytest.approx(ref_auc(ref_normalize_per_video(d, v), y))
    assert table["eer"] == pytest.approx(brute_force_eer(paper, y)[0])
    assert table["ap"] == pytest.approx(average_precision_score(y, paper))
    assert table["macro_videos_skipped"] == 0.0


def test_evaluation_table_distance_only():
    """D only (Eq. 15, per-video min-max) is its own AUC; None without a memory."""
    p, d, y, v = offset_videos()
    rng = np.random.default_rng(0)
    table = evaluation_table(rng.permutation(p), d, y, v)  # PSNR scrambled: D still ranks
    assert table["distance_auc"] == pytest.approx(ref_auc(ref_normalize_per_video(d, v), y))
    assert evaluation_table(p, -d, y, v)["distance_auc"] == pytest.approx(1 - table["distance_auc"])
    no_memory = evaluation_table(p, None, y, v)
    assert no_memory["distance_auc"] is None
    assert no_memory["frame_auc"] == pytest.approx(no_memory["psnr_auc"])


def test_term_scores_are_the_scores_of_the_table():
    p, d, y, v = offset_videos()
    terms = term_scores(p, d, v, 0.6)
    table = evaluation_table(p, d, y, v, 0.6)
    assert tuple(terms) == TERMS
    for key, s in terms.items():
        assert s.shape == p.shape
        assert table[key] == pytest.approx(ref_auc(s, y)), key
    assert "distance_auc" not in term_scores(p, None, v, 1.0)


def test_evaluation_table_per_video_normalisation_matters():
    p, d, y, v = offset_videos()
    table = evaluation_table(p, d, y, v)
    assert table["frame_auc"] == 1.0
    assert table["frame_auc_global"] < 0.9
    assert table["frame_auc"] != table["frame_auc_global"]


def test_evaluation_table_counts_single_class_videos():
    p, d, y, v = offset_videos()
    p = np.concatenate([p, [25.0, 22.0, 24.0]])
    d = np.concatenate([d, [0.02, 0.05, 0.03]])
    y = np.concatenate([y, [1, 1, 1]])  # a video anomalous in every frame
    v = np.concatenate([v, [7, 7, 7]])
    table = evaluation_table(p, d, y, v)
    assert table["macro_videos_skipped"] == 1.0
    assert table["frame_auc_macro"] == pytest.approx(1.0)


def test_frame_error_is_the_squared_error_on_unit_frames():
    from mnad_lite.scoring import frame_error

    pred, target = random_frames((2, 3, 4, 5), seed=11)
    expected = ((pred + 1) / 2 - (target + 1) / 2) ** 2
    torch.testing.assert_close(frame_error(pred, target), expected)
    mse = expected.flatten(1).mean(1)
    torch.testing.assert_close(psnr(pred, target), 10 * torch.log10(1 / mse))


@pytest.mark.parametrize("seed", range(5))
def test_rank_auc_equals_sklearn_with_ties(seed):
    from mnad_lite.metrics import rank_auc

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    labels[:2] = (0, 1)
    scores = rng.integers(0, 20, 300).astype(float)  # many ties
    assert rank_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    with pytest.raises(MNADError, match="both"):
        rank_auc(np.zeros(5), np.arange(5.0))

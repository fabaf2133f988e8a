"""Checkers for the course exercises: ``exercise_<notebook>_<number>(answer, ...)``.

Each checker recomputes the right answer with the package and returns a
:class:`Feedback`: ``.ok`` is True or False, and its text says *what* is wrong when it
is wrong (the usual mistakes are recognised: frames counted instead of clips, 1/τ
instead of 1/τ², a factor of C, a percentage instead of a fraction ...). In a notebook
the feedback shows as its text::

    from mnad_lite.course import check
    check.exercise_02_2(4.0)   # -> ✓ right: ...

Every worked solution of the notebooks calls its checker; ``tests/course/test_check.py``
runs each solution and a wrong answer through it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class Feedback(str):
    """The checker's verdict: a string (shown in the notebook) with ``ok``."""

    ok: bool

    def __new__(cls, ok: bool, text: str) -> Feedback:
        obj = super().__new__(cls, ("✓ right: " if ok else "✗ not yet: ") + text)
        obj.ok = ok
        return obj

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return str(self)


def _num(x: Any) -> float:
    return float(np.asarray(x, dtype=np.float64))


def _near(a: float, b: float, rel: float = 1e-3, tol: float = 1e-9) -> bool:
    return abs(a - b) <= max(tol, rel * abs(b))


# --- 01 data -----------------------------------------------------------------------------


def exercise_01_2(pred_clips: int, recon_clips: int, frame_counts: Sequence[int]) -> Feedback:
    """Training clips for prediction (t_length 5) and reconstruction (t_length 1).

    ``frame_counts``: the number of frames of each training video.
    """
    counts = [int(n) for n in frame_counts]
    pred, recon = sum(n - 4 for n in counts), sum(counts)
    if int(pred_clips) == pred and int(recon_clips) == recon:
        return Feedback(
            True,
            f"{pred} clips for prediction (4 fewer per video), {recon} for "
            "reconstruction (one per frame).",
        )
    notes = []
    if int(pred_clips) != pred:
        if int(pred_clips) == recon:
            notes.append(
                "for prediction you counted frames: the first 4 frames of each video "
                "end no clip, so each video gives T - 4 clips"
            )
        elif int(pred_clips) == recon - 4:
            notes.append(
                "for prediction you removed 4 frames once; it is 4 per video "
                f"({len(counts)} videos)"
            )
        elif int(pred_clips) == sum(n - 5 for n in counts):
            notes.append("a video of T frames gives T - t_length + 1 clips, not T - t_length")
        else:
            notes.append(f"for prediction, sum T - t_length + 1 over the {len(counts)} videos")
    if int(recon_clips) != recon:
        notes.append("with t_length = 1 every frame is a clip of its own")
    return Feedback(False, "; ".join(notes) + ".")


def exercise_01_4(auc: float) -> Feedback:
    """The frame AUC of a detector that gives every frame the same score."""
    a = _num(auc)
    if a > 1:
        a /= 100
    if _near(a, 0.5):
        return Feedback(
            True,
            "0.5 whatever the share of anomalous frames: all pairs are ties, "
            "and a tie counts one half in the ROC AUC.",
        )
    if 0.5 < a < 0.9:
        return Feedback(
            False,
            "that looks like the share of anomalous frames. The AUC does not "
            "depend on the class balance: it is the probability that an anomalous "
            "frame scores above a normal one, and with equal scores every pair is a "
            "tie, counted as one half.",
        )
    if a in (0.0, 1.0):
        return Feedback(
            False,
            "equal scores cannot separate anything in either direction: "
            "every (anomalous, normal) pair is a tie.",
        )
    return Feedback(
        False,
        "think of the AUC as P(score of an anomalous frame > score of a "
        "normal frame), with ties counting one half.",
    )


# --- 02 memory ---------------------------------------------------------------------------


def _tiny_example(seed: int):
    import torch
    import torch.nn.functional as F

    from mnad_lite.memory import init_items

    g = torch.Generator().manual_seed(seed)
    queries = F.normalize(torch.randn(4, 2, generator=g), dim=1)
    items = init_items(3, 2, generator=g)
    return queries, items


def rules_agree(seed: int) -> list[int]:
    """Items of notebook 02's tiny example (4 queries, 3 items, ``seed``) that the two
    forms of Eq. 5 move identically: unused items, and items whose largest v over
    all queries belongs to one of their own queries."""
    from mnad_lite.memory import nearest_items, update_weights

    queries, items = _tiny_example(seed)
    nearest, v = nearest_items(queries, items), update_weights(queries, items)  # Eqs. 11, 3
    agree = []
    for m in range(len(items)):
        own = nearest == m
        if not own.any() or bool(own[v[:, m].argmax()]):
            agree.append(m)
    return agree


def exercise_02_1(seed: int, agreeing_items: Sequence[int]) -> Feedback:
    """Which items of the tiny example (seed ``seed``) do ``"all"`` and ``"assigned"`` move
    identically?"""
    from mnad_lite.memory import nearest_items, update, update_weights

    queries, items = _tiny_example(seed)
    same = [
        m
        for m in range(3)
        if bool(
            (update(queries, items, "all")[m] - update(queries, items, "assigned")[m]).abs().max()
            < 1e-6
        )
    ]
    answer = sorted(int(m) for m in agreeing_items)
    assert same == rules_agree(seed)  # the rule stated in the notebook
    if answer == same:
        return Feedback(
            True,
            f"seed {seed}: items {same} move identically. They agree exactly "
            "when an item is unused or when the query with its largest v^(k,m) "
            "over all queries is one of its own (then both maxima are the same).",
        )
    nearest, v = nearest_items(queries, items), update_weights(queries, items)  # Eqs. 11, 3
    notes = []
    for m in sorted(set(answer) ^ set(same)):
        own = (nearest == m).nonzero().flatten().tolist()
        top = int(v[:, m].argmax())
        if not own:
            why = f"item {m} is nobody's nearest item, so neither rule moves it"
        elif top in own:
            why = (
                f"item {m}'s largest v is query {top}, one of its own queries {own}: "
                "both rules divide by the same maximum"
            )
        else:
            why = (
                f"item {m}'s largest v is query {top}, which belongs to item "
                f"{int(nearest[top])}, not to U^{m} = {own}: 'all' divides by a larger "
                "maximum"
            )
        notes.append(why)
    return Feedback(False, "; ".join(notes) + ".")


def exercise_02_2(factor: float, tau: float = 0.5) -> Feedback:
    """By what factor are the scores p·q of Eq. 1 multiplied when queries *and* items are
    multiplied by 1/τ (answer for the given ``tau``)?"""
    f, right = _num(factor), 1 / tau**2
    if _near(f, right):
        return Feedback(
            True,
            f"1/τ² = {right:g}: each of the two vectors brings one 1/τ. "
            f"The largest weight ratio becomes e^(2/τ²) = {math.exp(2 * right):.4g} "
            "instead of e² (a sharper read).",
        )
    if _near(f, 1 / tau):
        return Feedback(
            False,
            "1/τ is the factor when only one side is scaled. The score is "
            "a product p·q, and both vectors are multiplied by 1/τ.",
        )
    if _near(f, tau**2) or _near(f, tau):
        return Feedback(
            False, "inverted: multiplying by 1/τ with τ < 1 makes the scores larger, not smaller."
        )
    return Feedback(
        False, "write the score of the scaled vectors, (p/τ)·(q/τ), and factor out the constants."
    )


# --- 03 losses ---------------------------------------------------------------------------


def exercise_03_1(formula: Callable[[Any, Any], Any]) -> Feedback:
    """A function ``formula(queries [K, C], items [M, C]) -> tensor`` that should equal
    ``compactness_loss(queries, items, "code")`` for unit vectors, written with the mean
    cosine between each query and its nearest item."""
    import torch
    import torch.nn.functional as F

    from mnad_lite.memory import compactness_loss

    g = torch.Generator().manual_seed(0)
    ratios = []
    for c in (2, 8, 64):
        q = F.normalize(torch.randn(20, c, generator=g), dim=1)
        p = F.normalize(torch.randn(5, c, generator=g), dim=1)
        ratios.append((c, float(formula(q, p)) / float(compactness_loss(q, p, "code"))))
    if all(abs(r - 1) < 1e-4 for _, r in ratios):
        return Feedback(
            True,
            "for unit vectors ||q - p||² = 2 - 2 cos, so the code form is "
            "2 (1 - mean cos) / C: with C = 512 a query at 60° from its item adds "
            "only 1/512 to the loss.",
        )
    described = ", ".join(f"C = {c}: yours / package = {r:.4g}" for c, r in ratios)
    r0 = [r for _, r in ratios]
    if all(abs(r - 2) < 1e-3 for r in r0):
        hint = "you are a factor 2 too large: is the 2 of 2 - 2 cos counted twice?"
    elif all(abs(r - 0.5) < 1e-3 for r in r0):
        hint = "you are a factor 2 too small: ||q - p||² = 2 - 2 cos, not 1 - cos"
    elif np.ptp([r / c for c, r in ratios]) < 1e-3 * ratios[0][1] / ratios[0][0]:
        hint = "the ratio grows like C: the code form is a mean over the C channels too"
    elif np.ptp([r * c for c, r in ratios]) < 1e-3 * ratios[0][1] * ratios[0][0]:
        hint = "the ratio shrinks like 1/C: you divided by C once too often"
    else:
        hint = "start from ||q - p||² = |q|² + |p|² - 2 q·p for unit vectors"
    return Feedback(False, f"{hint} ({described}).")


def exercise_03_2(zero_hinge_queries: Sequence[int]) -> Feedback:
    """Which queries of notebook 03's tiny example (seed 3, 6 queries, 3 items) have a zero
    hinge in Eq. 12?"""
    import torch
    import torch.nn.functional as F

    from mnad_lite.memory import separateness_hinge

    g = torch.Generator().manual_seed(3)
    queries = F.normalize(torch.randn(6, 2, generator=g), dim=1)
    items = F.normalize(torch.randn(3, 2, generator=g), dim=1)
    hinge = separateness_hinge(queries, items, margin=1.0)  # Eqs. 11-13
    truth = sorted(int(k) for k in (hinge <= 0).nonzero().flatten())
    answer = sorted(int(k) for k in zero_hinge_queries)
    if answer == truth:
        return Feedback(
            True,
            f"queries {truth}: only there is d_neg - d_pos ≥ α = 1. On the "
            "unit circle that needs the query almost on its item and the second "
            "item far away.",
        )
    notes = [
        f"query {k}: d_pos - d_neg + 1 = {float(hinge[k]):+.3f}, so the hinge is "
        f"{'off (zero)' if hinge[k] <= 0 else 'active'}"
        for k in sorted(set(answer) ^ set(truth))
    ]
    return Feedback(False, "; ".join(notes) + ".")


# --- 04 training -------------------------------------------------------------------------


def exercise_04_2(parameter_difference: int) -> Feedback:
    """How many parameters does ``MNAD(num_items=50)`` have more than ``MNAD(num_items=10)``?"""
    if int(parameter_difference) == 0:
        return Feedback(
            True,
            "none: the items are a buffer (saved in the state_dict, changed "
            "only by Eq. 4), and nothing else depends on M.",
        )
    if int(parameter_difference) == 40 * 512:
        return Feedback(
            False,
            "40 x 512 would be the items, but they are not parameters: "
            "count_parameters only counts tensors the optimizer trains.",
        )
    return Feedback(
        False,
        "no layer's shape depends on M; where do the items live "
        "(model.named_parameters() or model.named_buffers())?",
    )


def exercise_04_5(mean_cosine: float, compact: float, feat_dim: int) -> Feedback:
    """The mean cosine between a query and its nearest item implied by a compactness loss
    ``compact`` (code form) with ``feat_dim`` channels."""
    right = 1 - compact * feat_dim / 2
    c = _num(mean_cosine)
    if _near(c, right, rel=1e-4):
        return Feedback(
            True,
            f"cos = 1 - C·L/2 = {right:.5f}: the queries sit almost on their "
            "items (an angle of "
            f"{math.degrees(math.acos(min(1.0, right))):.1f}°).",
        )
    if _near(c, 1 - compact / 2, rel=1e-4) or _near(c, 1 - compact, rel=1e-4):
        return Feedback(
            False,
            "the code form is a mean over the C channels as well: multiply "
            f"by C = {feat_dim} before converting.",
        )
    if _near(c, 1 - compact * feat_dim, rel=1e-4):
        return Feedback(False, "||q - p||² = 2 - 2 cos: divide by 2.")
    return Feedback(False, "use L_compact = mean_k ||q^k - p_p||² / C and ||q - p||² = 2 - 2 cos.")


# --- 05 evaluation -----------------------------------------------------------------------


def exercise_05_1(auc: float, psnr: Any, distance: Any, labels: Any, video_ids: Any) -> Feedback:
    """The frame AUC of the feature distance alone (λ = 0 in Eq. 16), paper protocol."""
    from mnad_lite.metrics import frame_auc
    from mnad_lite.scoring import anomaly_score

    def auc_of(lam: float) -> float:
        return frame_auc(anomaly_score(psnr, distance, video_ids, lambda_score=lam), labels)

    a = _num(auc)
    a = a / 100 if a > 1 else a
    right = auc_of(0.0)
    if _near(a, right, rel=1e-3):
        return Feedback(
            True,
            f"{100 * right:.2f} % with D alone, against {100 * auc_of(1.0):.2f} % with PSNR alone.",
        )
    if _near(a, auc_of(1.0), rel=1e-3):
        return Feedback(
            False,
            "that is PSNR alone: λ weighs the PSNR term of Eq. 16, so the distance alone is λ = 0.",
        )
    if _near(a, 1 - right, rel=1e-3):
        return Feedback(
            False, "inverted: a larger distance means more anomalous, use g(D) as it is."
        )
    from mnad_lite.metrics import frame_auc as fa

    if _near(a, fa(np.asarray(distance, float), labels), rel=1e-3):
        return Feedback(
            False,
            "that is the raw distance, without the per-video min-max of "
            "Eq. 17: use anomaly_score(..., lambda_score=0).",
        )
    return Feedback(
        False,
        "use anomaly_score(psnr, distance, video_ids, lambda_score=0) and "
        "frame_auc with the labels of the scored frames.",
    )


def exercise_05_4(raw: Any, labels: Any, video_ids: Any) -> Feedback:
    """A toy test set (raw scores, labels, videos) on which per-video min-max *helps*."""
    from mnad_lite.metrics import frame_auc
    from mnad_lite.scoring import normalize

    raw, labels, video_ids = (np.asarray(a) for a in (raw, labels, video_ids))
    if not (len(raw) == len(labels) == len(video_ids)):
        return Feedback(False, "raw, labels and video_ids need one entry per frame.")
    if len(np.unique(labels)) < 2:
        return Feedback(False, "an AUC needs normal and anomalous frames.")
    g = frame_auc(normalize(raw, video_ids, "global"), labels)
    v = frame_auc(normalize(raw, video_ids, "video"), labels)
    if v > g:
        return Feedback(
            True,
            f"per-video {v:.3f} > global {g:.3f}: the per-video range removed "
            "an offset between videos that a global threshold mistook for "
            "anomalies.",
        )
    single = [int(i) for i in np.unique(video_ids) if len(np.unique(labels[video_ids == i])) < 2]
    hint = (
        f" Videos {single} are single-class: per-video min-max stretches each of them "
        "to 0..1, which hurts."
        if single
        else ""
    )
    return Feedback(
        False,
        f"per-video {v:.3f} ≤ global {g:.3f}. Give every video normal "
        "and anomalous frames, and raise all raw scores of one video by a "
        f"constant larger than the gap between the classes.{hint}",
    )


# --- 06 experiments ----------------------------------------------------------------------


def exercise_06_2(decoder_in_memory: int, decoder_in_no_memory: int, width: int = 16) -> Feedback:
    """Channels entering the decoder with and without memory, at ``width``."""
    c = 8 * width
    a, b = int(decoder_in_memory), int(decoder_in_no_memory)
    if (a, b) == (2 * c, c):
        return Feedback(
            True,
            f"{2 * c} with memory ([q, p̂]) and {c} without (the raw "
            "encoder output, not even L2-normalised): the baseline changes the "
            "normalisation and halves the decoder's input, not only the memory.",
        )
    notes = []
    if a != 2 * c:
        notes.append(f"with memory the decoder reads [q, p̂]: 2C with C = 8 x width = {c}")
    if b != c:
        notes.append(
            "without memory there is no read p̂: the decoder gets C channels"
            if b == 2 * c
            else f"without memory the decoder reads the C = {c} channels of the encoder"
        )
    return Feedback(False, "; ".join(notes) + ".")


def exercise_06_4(spread: float, seed_aucs: Sequence[float]) -> Feedback:
    """The seed spread (max - min, in AUC points) of the reference runs."""
    s = _num(spread)
    aucs = np.asarray(seed_aucs, dtype=np.float64)
    scale = 100.0 if aucs.max() <= 1 else 1.0
    right = scale * (aucs.max() - aucs.min())
    if _near(s, right, rel=1e-3):
        return Feedback(
            True,
            f"{right:.2f} points: a difference smaller than this between two "
            "single runs says nothing.",
        )
    if _near(s, scale * aucs.std(), rel=1e-3) or _near(s, scale * aucs.std(ddof=1), rel=1e-3):
        return Feedback(
            False,
            "that is a standard deviation; the notebook's spread is the "
            "range, max - min, over the seeds.",
        )
    return Feedback(False, "take the largest minus the smallest AUC of the 'MNAD, seed n' runs.")


# --- 07 place ----------------------------------------------------------------------------


def exercise_07_1(distance_map: Any, queries: Any, items: Any) -> Feedback:
    """Each query's term of Eq. 15 (code form) on a query map ``queries`` ``[C, h, w]``
    with items ``[M, C]``: an ``[h, w]`` map."""
    import torch

    from mnad_lite.memory import distance_map as package_map

    q = np.asarray(queries, dtype=np.float64)
    p = np.asarray(items, dtype=np.float64)
    c, h, w = q.shape
    right = package_map(torch.from_numpy(q)[None], torch.from_numpy(p))[0].numpy()
    a = np.asarray(distance_map, dtype=np.float64)
    if a.shape != (h, w):
        a = a.reshape(h, w) if a.size == h * w else a
    if a.shape != (h, w):
        return Feedback(
            False, f"one value per query: the map has the query map's shape (h, w) = {(h, w)}."
        )

    def same(x: np.ndarray) -> bool:
        return bool(np.allclose(a, x, rtol=1e-3, atol=1e-7))

    if same(right):
        peak = np.unravel_index(right.argmax(), right.shape)
        return Feedback(
            True,
            f"the same as mnad_lite.memory.distance_map; its mean {right.mean():.4g} is D "
            f"(Eq. 15), and the largest term sits at row {peak[0]}, column {peak[1]}.",
        )
    flat = q.reshape(c, -1).T  # [K, C]
    sq_all = ((flat[:, None, :] - p[None]) ** 2).sum(-1)  # ||q^k - p_m||^2   [K, M]
    sim = flat @ p.T
    if same(right * c):
        return Feedback(False, "you summed over the C channels: the code form is the mean (/ C).")
    if same(np.sqrt(right * c)):
        return Feedback(
            False,
            "that is Eq. 15 as printed, ||q^k - p_p||_2; the package (and the authors' "
            "code) scores with the mean squared difference over the C channels.",
        )
    farthest = sq_all[np.arange(len(flat)), sim.argmin(1)].reshape(h, w)
    if same(farthest / c) or same(farthest):
        return Feedback(
            False, "you took the farthest item: p_p is the nearest, the largest p_m · q (Eq. 11)."
        )
    if same(sq_all.mean(1).reshape(h, w) / c) or same(sq_all.mean(1).reshape(h, w)):
        return Feedback(False, "Eq. 15 measures the nearest item only, not the mean over items.")
    return Feedback(
        False,
        "for each cell: nearest item p_p = argmax_m p_m · q^k (Eq. 11), then the mean over "
        "the C channels of (q^k - p_p)².",
    )


def exercise_07_2(changes: Any, summary: dict[str, Any]) -> Feedback:
    """The grass walker's PSNR-only AUC, memory-position minus memory, per seed both
    variants ran (points; a list in seed order or ``{seed: change}``)."""
    from mnad_lite.research.summary import seed_change
    from mnad_lite.research.text import KIND_TERMS

    def points(term: str) -> dict[int, float]:
        change = seed_change(summary, "memory-position", "memory", term, "grass_walker")
        return {s: 100 * d for s, d in change["per_seed"].items()}

    right = points("psnr_auc")
    seeds = list(right)
    if isinstance(changes, dict):
        given = {int(k): _num(v) for k, v in changes.items()}
    else:
        values = np.atleast_1d(np.asarray(changes, dtype=np.float64))
        if values.size == 1 and len(seeds) > 1:
            mean = float(np.mean(list(right.values())))
            hint = " (the mean over the seeds)" if _near(float(values[0]), mean, 1e-3) else ""
            return Feedback(
                False,
                f"one value per seed{hint}: the seeds {seeds} are paired, "
                "memory-position and memory trained with the same seed.",
            )
        given = dict(zip(seeds, values.tolist(), strict=False)) if values.size == len(seeds) else {}
    if sorted(given) != seeds:
        return Feedback(False, f"one change per seed both variants ran: seeds {seeds}.")

    def same(target: dict[int, float], scale: float = 1.0) -> bool:
        return sorted(target) == seeds and all(
            _near(given[s], scale * target[s], rel=1e-3, tol=1e-6) for s in seeds
        )

    if same(right):
        text = ", ".join(f"seed {s}: {right[s]:+.2f}" for s in seeds)
        return Feedback(True, f"{text} points of PSNR-only AUC on the grass walker.")
    if same(right, 0.01):
        return Feedback(False, "those are fractions of 1; the change is asked in points (x 100).")
    if same(right, -1.0):
        return Feedback(False, "the sign is reversed: memory-position minus memory.")
    for term, label in KIND_TERMS.items():
        if term != "psnr_auc" and same(points(term)):
            return Feedback(False, f"that is the {label} AUC; the exercise asks for PSNR only.")
    return Feedback(
        False,
        "take per_kind['psnr_auc']['grass_walker']['values'] of both variants, pair the "
        "values by seed (their 'seeds' lists) and subtract, in points.",
    )


# --- 08 alerts ---------------------------------------------------------------------------


def exercise_08_1(false_alarms_per_minute: float, recall: float, tradeoff: dict) -> Feedback:
    """False alarms per minute and recall at Q = 95 (``alert_tradeoff``'s grid)."""
    q = np.asarray(tradeoff["percentile"], dtype=np.float64)
    i, i99 = int(np.argmin(np.abs(q - 95.0))), int(np.argmin(np.abs(q - 99.0)))
    fa, rec = _num(false_alarms_per_minute), _num(recall)
    rec = rec / 100 if rec > 1 else rec  # a recall in % is fine too
    right_fa, right_rec = float(tradeoff["fa"][i]), float(tradeoff["recall"][i])
    if _near(fa, right_fa, rel=1e-6) and _near(rec, right_rec, rel=1e-6):
        return Feedback(
            True,
            f"Q = 95: {right_fa:.2f} false alarms per minute, recall {100 * right_rec:.1f} % "
            f"(Q = 99: {float(tradeoff['fa'][i99]):.2f} and "
            f"{100 * float(tradeoff['recall'][i99]):.1f} %): a lower Q flags more, both the "
            "anomalies and the rest.",
        )
    if _near(rec, float(tradeoff["recall"][i99]), rel=1e-6):
        return Feedback(False, "those are the numbers at Q = 99 (the auto threshold): take Q = 95.")
    return Feedback(
        False, "find the grid point of Q = 95: np.argmin(np.abs(tradeoff['percentile'] - 95))."
    )


def exercise_08_2(calibration_frames: int, held_out_frames: int, t_length: int) -> Feedback:
    """How many frames of the held-out recording the calibration scores."""
    right = int(held_out_frames) - (int(t_length) - 1)
    given = int(calibration_frames)
    if given == right:
        return Feedback(
            True,
            f"{right}: all {held_out_frames} frames but the first {t_length - 1}, which have no "
            f"{t_length - 1} predecessors to predict them from (notebook 01).",
        )
    if given == int(held_out_frames):
        return Feedback(
            False, "the first t_length - 1 frames cannot be predicted, so they get no score."
        )
    return Feedback(
        False, "the calibration scores the held-out video (cam_b) with the test-time update off."
    )

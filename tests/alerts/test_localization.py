"""Tests for mnad_lite.alerts.localization: RBDC and TBDC (MNAD.md section 6).

Hand-made cases state their expected values and why; the vectorised matching and sweep are
compared with a plain loop written straight from the definition.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from mnad_lite.alerts.localization import (
    Detections,
    GroundTruth,
    box_iou,
    detect_regions,
    from_inclusive,
    link_tracks,
    localization_criteria,
    localize,
    pixel_threshold,
    scale_boxes,
    truth_from_events,
    truth_from_masks,
)
from mnad_lite.errors import MNADError


def dets(rows, n):
    """Detections from (frame, [x0, y0, x1, y1], score) rows over n frames."""
    return Detections(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=float).reshape(-1, 4),
        np.array([r[2] for r in rows], dtype=float),
        n,
    )


def truth(rows, n):
    """Ground truth from (frame, [x0, y0, x1, y1], track) rows over n frames."""
    return GroundTruth(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=float).reshape(-1, 4),
        np.array([r[2] for r in rows], dtype=np.int64),
        n,
    )


SQUARE = [0, 0, 10, 10]  # area 100


# --- boxes -------------------------------------------------------------------------------


def plain_iou(a, b):
    """IoU of two half-open boxes, from the definition."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_box_iou_hand_values():
    a = [SQUARE, [5, 5, 15, 15]]
    b = [SQUARE, [10, 0, 20, 10], [0, 0, 10, 1], [3, 3, 3, 8]]
    iou = box_iou(a, b)
    assert iou.shape == (2, 4)
    assert iou[0, 0] == 1.0  # identical
    assert iou[0, 1] == 0.0  # half-open boxes that touch along x = 10 share no area
    assert iou[0, 2] == pytest.approx(0.1)  # a 10 x 1 strip inside the square: 10 / 100
    assert iou[0, 3] == 0.0  # zero-area box
    assert iou[1, 0] == pytest.approx(25 / 175)  # 5 x 5 overlap, union 100 + 100 - 25
    assert iou[1, 1] == pytest.approx(25 / 175)


def test_box_iou_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    a = np.sort(rng.uniform(0, 20, (7, 2, 2)), axis=1).transpose(0, 2, 1).reshape(7, 4)
    b = np.sort(rng.uniform(0, 20, (5, 2, 2)), axis=1).transpose(0, 2, 1).reshape(5, 4)
    a = a[:, [0, 2, 1, 3]]  # (x0, x1, y0, y1) sorted pairs -> x0, y0, x1, y1
    b = b[:, [0, 2, 1, 3]]
    expected = [[plain_iou(x, y) for y in b] for x in a]
    np.testing.assert_allclose(box_iou(a, b), expected, rtol=1e-12)
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 5)


def test_inclusive_boxes_and_scaling():
    # pixels 2..5 by 3..7 inclusive cover [2, 6) x [3, 8)
    np.testing.assert_array_equal(from_inclusive([[2, 3, 5, 7]]), [[2, 3, 6, 8]])
    # a 256 x 512 frame shown as a 64 x 64 map: x by 1/8, y by 1/4
    np.testing.assert_allclose(
        scale_boxes([[8, 4, 16, 12]], (256, 512), (64, 64)), [[1, 1, 2, 3]], rtol=0
    )


# --- regions from maps -------------------------------------------------------------------


def two_blob_maps():
    m = np.zeros((3, 16, 16), dtype=np.float16)  # float16 like FrameScores.error_maps
    m[0, 2:5, 3:7] = 1.0  # rows 2..4, cols 3..6 -> box [3, 2, 7, 5]
    m[0, 3, 4] = 2.0
    m[0, 10:13, 10:12] = 0.5  # rows 10..12, cols 10..11 -> box [10, 10, 12, 13]
    m[2, 0, 0] = 0.3  # a single pixel in frame 2
    return m


def test_detect_regions_two_blobs_at_known_boxes():
    d = detect_regions(two_blob_maps(), 0.25)
    assert d.num_frames == 3
    np.testing.assert_array_equal(d.frame, [0, 0, 2])
    np.testing.assert_array_equal(d.boxes, [[3, 2, 7, 5], [10, 10, 12, 13], [0, 0, 1, 1]])
    np.testing.assert_allclose(d.scores, [2.0, 0.5, 0.3], rtol=1e-3)  # max inside each
    mean = detect_regions(two_blob_maps(), 0.25, score="mean")
    # blob 1: 12 pixels, eleven at 1 and one at 2 -> 13 / 12
    np.testing.assert_allclose(mean.scores, [13 / 12, 0.5, 0.3], rtol=1e-3)
    # min_area 2 drops the one-pixel region; threshold 0.5 is strict (> 0.5) so blob 2 goes
    np.testing.assert_array_equal(detect_regions(two_blob_maps(), 0.25, min_area=2).frame, [0, 0])
    assert len(detect_regions(two_blob_maps(), 0.5)) == 1
    assert len(detect_regions(np.zeros((4, 5, 5)), 0.0)) == 0


def test_diagonal_pixels_are_one_region_only_with_8_connectivity():
    m = np.zeros((1, 4, 4))
    m[0, 0, 0] = m[0, 1, 1] = 1.0
    np.testing.assert_array_equal(detect_regions(m, 0.5).boxes, [[0, 0, 2, 2]])
    np.testing.assert_array_equal(
        detect_regions(m, 0.5, connectivity=4).boxes, [[0, 0, 1, 1], [1, 1, 2, 2]]
    )


def test_regions_do_not_join_across_frames():
    m = np.ones((2, 3, 3))  # the same blob in two frames: two regions, not one
    d = detect_regions(m, 0.5)
    np.testing.assert_array_equal(d.frame, [0, 1])
    np.testing.assert_array_equal(d.boxes, [[0, 0, 3, 3]] * 2)


def test_pixel_threshold_is_a_quantile():
    maps = np.arange(100, dtype=np.float32).reshape(1, 10, 10)
    assert pixel_threshold(maps, 0.9) == pytest.approx(89.1)  # linear between 89 and 90
    assert pixel_threshold(maps, 1.0) == 99.0


# --- ground truth ------------------------------------------------------------------------


def test_masks_to_boxes_and_tracks():
    masks = np.zeros((4, 12, 12), dtype=bool)
    for t in range(4):  # an object moving 1 pixel right per frame
        masks[t, 2:6, 1 + t : 4 + t] = True
    masks[1, 9:11, 9:11] = True  # a second object only in frame 1
    gt = truth_from_masks(masks)
    np.testing.assert_array_equal(gt.frame, [0, 1, 1, 2, 3])
    np.testing.assert_array_equal(
        gt.boxes,
        [[1, 2, 4, 6], [2, 2, 5, 6], [9, 9, 11, 11], [3, 2, 6, 6], [4, 2, 7, 6]],
    )
    # consecutive boxes overlap with IoU 2/4 = 0.5 >= 0.1: one track; the other is alone
    np.testing.assert_array_equal(gt.track, [0, 0, 1, 0, 0])
    assert gt.num_tracks == 2


def test_tracks_do_not_cross_videos_or_gaps():
    masks = np.zeros((4, 6, 6), dtype=bool)
    masks[:, 1:4, 1:4] = True  # the same box in every row
    # rows 0, 1 are frames 7, 8 of video 0; rows 2, 3 are frames 8, 10 of video 1
    gt = truth_from_masks(masks, video_ids=[0, 0, 1, 1], frame_index=[7, 8, 8, 10])
    np.testing.assert_array_equal(gt.track, [0, 0, 1, 2])  # new video; then a 2-frame gap
    gt = truth_from_masks(masks, [0, 0, 1, 1], [7, 8, 8, 10], max_gap=2)
    np.testing.assert_array_equal(gt.track, [0, 0, 1, 1])


def test_link_tracks_by_iou_greedy_one_to_one():
    frame = [0, 0, 1, 1, 1]
    boxes = [
        [0, 0, 10, 10],  # track 0
        [50, 0, 60, 10],  # track 1
        [1, 0, 11, 10],  # IoU 90/110 with track 0: continues it
        [0, 1, 10, 11],  # IoU 90/110 with track 0 too, but the box above came first
        [60, 0, 70, 10],  # touches track 1 only at x = 60: IoU 0, a new track
    ]
    # both frame-1 candidates have IoU 0.818 with track 0; greedy keeps the first (stable)
    np.testing.assert_array_equal(link_tracks(frame, boxes), [0, 1, 0, 2, 3])
    # the threshold matters: IoU 0.818 is below 0.9, so every frame-1 box starts a track
    np.testing.assert_array_equal(link_tracks(frame, boxes, link_iou=0.9), [0, 1, 2, 3, 4])


def test_truth_from_events_scales_and_skips_unscored_frames():
    events = [
        {"video": "01", "kind": "bike", "start": 3, "end": 5, "boxes": {3: [4, 8, 7, 11]}},
        {"video": "01", "kind": "cart", "start": 4, "end": 5, "boxes": {"4": [0, 0, 3, 3]}},
        {"video": "02", "kind": "run", "start": 4, "end": 4, "boxes": {4: [0, 0, 3, 3]}},
        {"video": "99", "kind": "run", "start": 0, "end": 0, "boxes": {0: [0, 0, 3, 3]}},
    ]
    # rows: video 01 frames 4, 5; video 02 frame 4 (frame 3 of 01 was not predicted)
    events[0]["boxes"][5] = [4, 8, 7, 11]
    gt = truth_from_events(
        events, ["01", "02"], [0, 0, 1], [4, 5, 4], frame_size=(16, 16), map_size=(8, 4)
    )
    assert gt.num_frames == 3
    np.testing.assert_array_equal(gt.frame, [1, 0, 2])  # event 0 frame 5, event 1, event 2
    np.testing.assert_array_equal(gt.track, [0, 1, 2])  # one event = one track ("99" skipped)
    # [4, 8, 7, 11] inclusive -> [4, 8, 8, 12) half-open; x by 4/16, y by 8/16
    np.testing.assert_allclose(gt.boxes[0], [1, 4, 2, 6])
    np.testing.assert_allclose(gt.boxes[1], [0, 0, 1, 2])


def test_event_boxes_agree_with_the_synthetic_masks(quick_data):
    from mnad_lite.data import open_dataset

    ds = open_dataset(quick_data)
    video = ds.test[0]
    h, w = 43, 64  # the map size evaluate uses for 120 x 180 frames
    masks = video.masks(size=(h, w))
    rows = np.arange(4, video.num_frames)  # prediction drops the first 4 frames
    gt = truth_from_events(
        ds.events,
        [video.name],
        np.zeros(len(rows), np.int64),
        rows,
        frame_size=video.frame_size,
        map_size=(h, w),
    )
    assert len(gt) > 0
    for f, box in zip(gt.frame, gt.boxes, strict=True):
        ys, xs = np.nonzero(masks[rows[f]])
        mask_box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        # the scaled manifest box and the resized mask's box differ by resampling only
        np.testing.assert_allclose(box, mask_box, atol=1.0)


# --- criteria: hand-made cases -----------------------------------------------------------


def test_one_perfect_detection_gives_one():
    r = localization_criteria(dets([(0, SQUARE, 0.7)], 1), truth([(0, SQUARE, 0)], 1))
    assert (r.rbdc, r.tbdc) == (1.0, 1.0)
    assert (r.num_true_positives, r.num_regions_matched, r.num_tracks_detected) == (1, 1, 1)
    x, y = r.curve("region")  # (0, 0) -> (0, 1) at the only threshold -> flat to (1, 1)
    np.testing.assert_array_equal(x, [0, 0, 1])
    np.testing.assert_array_equal(y, [0, 1, 1])


def test_iou_exactly_beta_counts_and_just_below_does_not():
    gt = truth([(0, SQUARE, 0)], 1)
    # a 10 x 1 strip inside the square: IoU = 10 / 100 = 0.1 = beta -> true positive
    r = localization_criteria(dets([(0, [0, 0, 10, 1], 0.5)], 1), gt)
    assert (r.rbdc, r.num_true_positives) == (1.0, 1)
    # [9, 11) x [0, 10): overlap 10, union 100 + 20 - 10 = 110 -> IoU 0.0909 < 0.1: FP
    r = localization_criteria(dets([(0, [9, 0, 11, 10], 0.5)], 1), gt)
    assert (r.rbdc, r.tbdc, r.num_true_positives) == (0.0, 0.0, 0)
    np.testing.assert_array_equal(r.fp_per_frame, [1.0])
    # with beta 0.05 the same detection is a true positive
    assert localization_criteria(dets([(0, [9, 0, 11, 10], 0.5)], 1), gt, beta=0.05).rbdc == 1


def test_a_detection_in_another_frame_does_not_match():
    r = localization_criteria(dets([(1, SQUARE, 0.5)], 2), truth([(0, SQUARE, 0)], 2))
    assert r.rbdc == 0.0 and r.num_true_positives == 0


def test_false_positives_ranked_first_cost_area():
    # 2 frames; frame 1 holds only a false positive, scored above the true positive.
    # Sweep: 0.9 -> 1 FP / 2 frames = 0.5, rate 0; 0.5 -> 0.5, rate 1. Curve (0,0), (0.5,0),
    # (0.5,1), flat to (1,1): area = 0.5 * 1.
    d = dets([(1, [20, 20, 25, 25], 0.9), (0, SQUARE, 0.5)], 2)
    r = localization_criteria(d, truth([(0, SQUARE, 0)], 2))
    assert r.rbdc == pytest.approx(0.5) and r.tbdc == pytest.approx(0.5)
    np.testing.assert_array_equal(r.thresholds, [0.9, 0.5])
    np.testing.assert_array_equal(r.fp_per_frame, [0.5, 0.5])
    np.testing.assert_array_equal(r.region_rate, [0.0, 1.0])
    # ranked below the true positive, the same false positive costs nothing
    d = dets([(1, [20, 20, 25, 25], 0.4), (0, SQUARE, 0.5)], 2)
    assert localization_criteria(d, truth([(0, SQUARE, 0)], 2)).rbdc == 1.0


def test_curve_is_cut_at_one_false_positive_per_frame():
    # 2 frames, GT in frame 0. Scores: FP 0.9 (fpr 0.5), TP 0.8 (rate 1), FPs 0.7, 0.6, 0.5
    # (fpr 1, 1.5, 2). Area up to fpr 1: 0.5 at rate 0 + 0.5 at rate 1 = 0.5.
    fp = [20, 20, 25, 25]
    d = dets([(1, fp, 0.9), (0, SQUARE, 0.8), (1, fp, 0.7), (1, fp, 0.6), (0, fp, 0.5)], 2)
    r = localization_criteria(d, truth([(0, SQUARE, 0)], 2))
    assert r.rbdc == pytest.approx(0.5)
    np.testing.assert_array_equal(r.fp_per_frame, [0.5, 0.5, 1.0, 1.5, 2.0])
    x, y = r.curve()
    assert x[-1] == 1.0 and y[-1] == 1.0 and x.max() == 1.0


def test_tied_scores_give_a_diagonal():
    # 1 frame: a TP and an FP with the same score enter together: (0, 0) -> (1, 1),
    # a straight line, area 1/2 (as tied scores in a ROC curve)
    d = dets([(0, SQUARE, 0.5), (0, [20, 20, 25, 25], 0.5)], 1)
    assert localization_criteria(d, truth([(0, SQUARE, 0)], 1)).rbdc == pytest.approx(0.5)


def test_two_tracks_one_below_alpha_one_above():
    # Track 0 in frames 0..19 is matched in 1 of 20 frames (5 % < 10 %); track 1 in frames
    # 20..39 in 3 of 20 (15 % >= 10 %). No false positives, so both areas equal the final
    # rates: RBDC = 4 / 40 regions = 0.1; TBDC = 1 / 2 tracks = 0.5.
    gt = truth([(t, SQUARE, 0) for t in range(20)] + [(t, SQUARE, 1) for t in range(20, 40)], 40)
    d = dets([(0, SQUARE, 0.9), (20, SQUARE, 0.8), (21, SQUARE, 0.7), (22, SQUARE, 0.6)], 40)
    r = localization_criteria(d, gt)
    assert r.rbdc == pytest.approx(0.1) and r.tbdc == pytest.approx(0.5)
    assert (r.num_regions, r.num_tracks, r.num_tracks_detected) == (40, 2, 1)
    # track 1 counts from its 2nd matched region on (ceil(0.1 * 20) = 2): at threshold 0.7
    np.testing.assert_array_equal(r.track_rate, [0.0, 0.0, 0.5, 0.5])
    # with alpha = 5 % one region in 20 is enough for track 0 as well
    assert localization_criteria(d, gt, alpha=0.05).tbdc == pytest.approx(1.0)


def test_alpha_count_is_exact_when_the_float_product_is_not():
    # 7 of 25 regions is exactly 28 %; in floats 0.28 * 25 = 7.000000000000001, which a
    # naive ceil would turn into 8 and so miss the track
    gt = truth([(t, SQUARE, 0) for t in range(25)], 25)
    d = dets([(t, SQUARE, 1.0) for t in range(7)], 25)
    assert localization_criteria(d, gt, alpha=0.28).tbdc == 1.0
    six = dets([(t, SQUARE, 1.0) for t in range(6)], 25)  # 24 % < 28 %
    assert localization_criteria(six, gt, alpha=0.28).tbdc == 0.0


def test_one_detection_may_match_two_regions():
    # a box covering two adjacent ground-truth boxes has IoU 0.5 with each: both matched
    gt = truth([(0, [0, 0, 10, 10], 0), (0, [10, 0, 20, 10], 1)], 1)
    r = localization_criteria(dets([(0, [0, 0, 20, 10], 0.5)], 1), gt)
    assert (r.rbdc, r.tbdc, r.num_regions_matched) == (1.0, 1.0, 2)


def test_limits_without_detections_or_ground_truth():
    gt = truth([(0, SQUARE, 0)], 3)
    r = localization_criteria(dets([], 3), gt)
    assert (r.rbdc, r.tbdc, r.num_detections) == (0.0, 0.0, 0)
    x, y = r.curve("track")
    np.testing.assert_array_equal(x, [0, 1])
    np.testing.assert_array_equal(y, [0, 0])
    r = localization_criteria(dets([(0, SQUARE, 0.5)], 3), truth([], 3))
    assert r.rbdc is None and r.tbdc is None and r.num_true_positives == 0


def test_to_dict_is_json():
    d = dets([(1, [20, 20, 25, 25], 0.9), (0, SQUARE, 0.5)], 2)
    out = localization_criteria(d, truth([(0, SQUARE, 0)], 2)).to_dict()
    back = json.loads(json.dumps(out))
    assert back["rbdc"] == pytest.approx(0.5) and back["num_frames"] == 2
    assert back["thresholds"] == [0.9, 0.5] and back["region_rate"] == [0.0, 1.0]
    assert "thresholds" not in localization_criteria(d, truth([], 2)).to_dict(curves=False)
    assert json.loads(json.dumps(localization_criteria(d, truth([], 2)).to_dict()))["rbdc"] is None


def test_localize_on_maps_equal_to_the_masks_is_perfect():
    masks = np.zeros((5, 12, 12), dtype=bool)
    for t in range(5):
        masks[t, 2:5, t : t + 3] = True
    noise = np.random.default_rng(0).uniform(0, 0.4, masks.shape)
    r = localize(masks + noise, truth_from_masks(masks), 0.5)
    assert (r.rbdc, r.tbdc, r.num_tracks) == (1.0, 1.0, 1)


# --- criteria: against a plain loop ------------------------------------------------------


def reference(det_rows, gt_rows, n, beta=0.1, alpha=0.1):
    """Sweep and RBDC straight from the definition (rows as in ``dets``/``truth``).

    The area is summed strip by strip (valid for distinct scores): each false positive
    moves the curve 1/n right at the current region rate; the rest up to 1 is at the end rate.
    """
    alpha = Fraction(str(alpha))
    points = []
    for s in sorted({r[2] for r in det_rows}, reverse=True):
        kept = [r for r in det_rows if r[2] >= s]
        fp = sum(
            not any(g[0] == f and plain_iou(box, g[1]) >= beta for g in gt_rows)
            for f, box, _ in kept
        )
        matched = [
            any(f == g[0] and plain_iou(box, g[1]) >= beta for f, box, _ in kept) for g in gt_rows
        ]
        tracks: dict[int, list[bool]] = {}
        for g, m in zip(gt_rows, matched, strict=True):
            tracks.setdefault(g[2], []).append(m)
        found = sum(sum(ms) > 0 and Fraction(sum(ms), len(ms)) >= alpha for ms in tracks.values())
        points.append((s, fp / n, sum(matched) / len(gt_rows), found / len(tracks)))
    area, last_fpr, rate = 0.0, 0.0, 0.0
    for _, fpr, rate, _ in points:
        area += (min(fpr, 1.0) - min(last_fpr, 1.0)) * rate
        last_fpr = fpr
    area += max(0.0, 1.0 - last_fpr) * rate
    return points, area


def random_case(seed, n=6, ties=False):
    rng = np.random.default_rng(seed)
    gt_rows, det_rows = [], []
    for f in range(n):
        for _ in range(rng.integers(0, 3)):
            x, y = rng.uniform(0, 30, 2)
            gt_rows.append((f, [x, y, x + rng.uniform(2, 10), y + rng.uniform(2, 10)], 0))
        for _ in range(rng.integers(0, 5)):
            if gt_rows and gt_rows[-1][0] == f and rng.random() < 0.6:  # near a GT box
                b = np.array(gt_rows[-1][1]) + rng.normal(0, 3, 4)
                b[2:] = np.maximum(b[2:], b[:2] + 0.5)
            else:
                x, y = rng.uniform(0, 30, 2)
                b = np.array([x, y, x + rng.uniform(1, 8), y + rng.uniform(1, 8)])
            s = float(rng.integers(0, 4)) if ties else float(rng.random())
            det_rows.append((f, b.tolist(), s))
    gt_rows = [(f, b, int(rng.integers(0, 3))) for f, b, _ in gt_rows]
    return det_rows, gt_rows


@pytest.mark.parametrize("seed", range(12))
def test_sweep_matches_the_plain_loop(seed):
    det_rows, gt_rows = random_case(seed)
    if not gt_rows:
        pytest.skip("no ground truth drawn")
    points, area = reference(det_rows, gt_rows, 6)
    r = localization_criteria(dets(det_rows, 6), truth(gt_rows, 6))
    np.testing.assert_allclose(r.thresholds, [p[0] for p in points])
    np.testing.assert_allclose(r.fp_per_frame, [p[1] for p in points])
    np.testing.assert_allclose(r.region_rate, [p[2] for p in points])
    np.testing.assert_allclose(r.track_rate, [p[3] for p in points])
    assert r.rbdc == pytest.approx(area, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_sweep_with_tied_scores_matches_the_plain_loop(seed):
    det_rows, gt_rows = random_case(100 + seed, ties=True)
    if not gt_rows:
        pytest.skip("no ground truth drawn")
    points, _ = reference(det_rows, gt_rows, 6)
    r = localization_criteria(dets(det_rows, 6), truth(gt_rows, 6))
    np.testing.assert_allclose(r.fp_per_frame, [p[1] for p in points])
    np.testing.assert_allclose(r.region_rate, [p[2] for p in points])
    np.testing.assert_allclose(r.track_rate, [p[3] for p in points])


def test_curves_are_monotone_and_end_at_the_totals():
    det_rows, gt_rows = random_case(3, n=40)
    r = localization_criteria(dets(det_rows, 40), truth(gt_rows, 40))
    assert np.all(np.diff(r.thresholds) < 0)
    for arr in (r.fp_per_frame, r.region_rate, r.track_rate):
        assert np.all(np.diff(arr) >= 0)
    assert r.fp_per_frame[-1] * 40 == r.num_detections - r.num_true_positives
    assert r.region_rate[-1] == r.num_regions_matched / r.num_regions
    assert r.track_rate[-1] == r.num_tracks_detected / r.num_tracks
    x, y = r.curve()
    assert x[0] == 0 and y[0] == 0 and x[-1] == 1 and np.all(np.diff(x) >= 0)
    # raising beta can only lose matches: the areas cannot grow
    strict = localization_criteria(dets(det_rows, 40), truth(gt_rows, 40), beta=0.5)
    assert strict.rbdc <= r.rbdc and strict.num_true_positives < r.num_true_positives


def test_result_does_not_depend_on_the_order_of_detections_or_regions():
    det_rows, gt_rows = random_case(5, n=20)
    base = localization_criteria(dets(det_rows, 20), truth(gt_rows, 20)).to_dict()
    rng = np.random.default_rng(1)
    shuffled_d = [det_rows[i] for i in rng.permutation(len(det_rows))]
    shuffled_g = [gt_rows[i] for i in rng.permutation(len(gt_rows))]
    assert localization_criteria(dets(shuffled_d, 20), truth(shuffled_g, 20)).to_dict() == base


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: box_iou([[5, 0, 4, 1]], [SQUARE]), "x1 < x0"),
        (lambda: box_iou([[0, 0, 1]], [SQUARE]), r"\[R, 4\]"),
        (lambda: dets([(0, [0, 3, 1, 2], 1.0)], 1), "y1 < y0"),
        (lambda: dets([(2, SQUARE, 1.0)], 2), "frame indices must lie in 0..1"),
        (lambda: Detections([0], [SQUARE], [1.0, 2.0], 1), "one score per box"),
        (lambda: Detections([0], [SQUARE], [np.nan], 1), "finite"),
        (lambda: truth([(0, SQUARE, 0)], 0), "num_frames"),
        (
            lambda: localization_criteria(dets([], 3), truth([(0, SQUARE, 0)], 2)),
            "cover 3 frames but the ground truth 2",
        ),
        (lambda: localization_criteria(dets([], 1), truth([], 1), beta=0), "beta"),
        (lambda: localization_criteria(dets([], 1), truth([], 1), alpha=1.5), "alpha"),
        (lambda: detect_regions(np.zeros((4, 4)), 0.1), r"\[N, h, w\]"),
        (lambda: detect_regions(np.zeros((1, 4, 4)), 0.1, score="median"), "score"),
        (lambda: detect_regions(np.zeros((1, 4, 4)), 0.1, connectivity=6), "connectivity"),
        (lambda: detect_regions(np.zeros((1, 4, 4)), 0.1, min_area=0), "min_area"),
        (lambda: pixel_threshold(np.zeros(3), 99), "quantile"),
        (lambda: truth_from_masks(np.ones((2, 3, 3)), [0, 0], [1]), "one entry per frame"),
        (lambda: truth_from_masks(np.ones((2, 3, 3)), [0, 0], [1, 1]), "same frame twice"),
        (lambda: truth_from_masks(np.ones((2, 3, 3)), [0, 0]), "both video_ids"),
        (lambda: truth_from_events([{"video": "a"}], ["a"], [0], [0]), "event 0"),
        (
            lambda: truth_from_events([], ["a"], [0], [0], frame_size=(4, 4)),
            "frame_size and map_size",
        ),
        (lambda: scale_boxes([SQUARE], (0, 4), (4, 4)), "positive"),
        (lambda: link_tracks([0], [SQUARE], link_iou=0), "link_iou"),
    ],
)
def test_bad_input_is_a_one_line_error(call, message):
    with pytest.raises(MNADError, match=message) as err:
        call()
    assert "\n" not in str(err.value)

"""Localisation criteria: region- and track-based detection criteria (RBDC, TBDC).

Frame AUC says *when* a model finds an anomaly; RBDC and TBDC (Ramachandra and Jones,
WACV 2020; Ramachandra, Jones and Vatsavai, TPAMI 2020) say whether it finds it in the
right *place* (MNAD.md section 6). Both compare detected regions (boxes with a score) with
ground-truth regions, frame by frame:

- a detection is a true positive when its IoU with a ground-truth region of the same frame
  is at least ``beta``; otherwise it is a false positive;
- region detection rate = ground-truth regions matched by a true positive / all of them;
- track detection rate = tracks (one anomalous event's regions) with at least ``alpha`` of
  their regions matched / all tracks;
- false positives per frame = false-positive detections / number of test frames.

Sweeping a threshold on the detection scores traces (false positives per frame, detection
rate) curves; RBDC and TBDC are the areas under them for false-positive rates 0 to 1.

Choices the definition leaves open, and the ones made here:

- **Boxes** are float ``[x0, y0, x1, y1]``, *half-open* in map pixels: pixel (row i,
  column j) covers ``[j, j + 1) x [i, i + 1)``, so a box of the pixels x0..x1 (inclusive)
  is ``[x0, y0, x1 + 1, y1 + 1]``, area = (x1 - x0) (y1 - y0), and rescaling a box is a
  multiplication (:func:`scale_boxes`). The manifest's inclusive boxes are converted by
  :func:`from_inclusive`.
- **IoU** beta = 0.1 and **alpha** = 10 % (defaults). A track of n regions is detected when
  at least ceil(alpha n) (at least 1) of them are matched. Matching is many-to-many, as in
  the definition: a detection may match several ground-truth regions, and every detection
  overlapping a ground-truth region enough is a true positive (no one-to-one assignment).
- **Regions from maps** (:func:`detect_regions`): connected components (8-connected by
  default) of ``map > threshold`` in each frame, components smaller than ``min_area``
  pixels dropped, one box per component (its bounding box). The pixel threshold is fixed;
  :func:`pixel_threshold` picks it without test labels, as a high quantile of the error
  maps of normal frames (e.g. training videos).
- **Region score**: the maximum of the map inside the component (``score="max"``; "mean"
  is offered). The sweep keeps the detections with score >= s, for every distinct score s
  from high to low (an exact sweep: every point where the counts change).
- **Curve start and end**: the curve starts at (0, 0) (threshold above every score: no
  detection), joins the sweep points by straight lines (a staircase when scores are
  distinct: each false positive adds a strip 1 / num_frames wide at the current rate;
  tied scores give a diagonal, as tied scores do in ROC curves), is cut at 1 false
  positive per frame (interpolated on the segment that crosses it) or, when the sweep
  ends earlier, extended flat at its last rate to 1 (no further detections exist). The
  FP axis runs from 0 to 1, so the area lies in [0, 1] without further normalisation.
- **Ground truth**: from masks (:func:`truth_from_masks`: connected components per frame,
  as boxes) or from given boxes (:func:`truth_from_events`: the synthetic manifest's
  per-frame boxes). Events give the tracks (one event = one track; its frames without a
  scored frame are skipped). Without events, regions are linked into tracks by
  :func:`link_tracks`: in time order within each video, a region continues the track
  whose latest region (at most ``max_gap`` frames earlier, default 1: consecutive frames)
  has the highest IoU with it, if that IoU >= ``link_iou`` (0.1), each track continued by
  at most one region per frame (greedy, highest IoU first); otherwise it starts a track.
- Without ground-truth regions both criteria are undefined (None).

Frames are the rows of the evaluated stack (``FrameScores`` order), 0..num_frames-1.
Usage with ``scores`` (FrameScores) of ``videos``, maps of size (h, w)::

    truth = truth_from_events(dataset.events, scores.videos, scores.video_ids,
                              scores.frame_index, frame_size=(H, W), map_size=(h, w))
    # or, from masks: np.concatenate([v.masks(size=(h, w))[scores.frame_index[
    #     scores.video_ids == i]] for i, v in enumerate(videos)]) -> truth_from_masks(
    #     masks, scores.video_ids, scores.frame_index)
    result = localize(scores.error_maps, truth, pixel_threshold(normal_maps, 0.99))
    result.rbdc, result.tbdc, result.to_dict()
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from mnad_lite.errors import MNADError

BETA = 0.1  # IoU for a true positive
ALPHA = 0.1  # fraction of a track's regions that must be matched


# --- boxes -------------------------------------------------------------------------------


def _check_boxes(boxes: Any, name: str = "boxes") -> np.ndarray:
    """Boxes as float64 [R, 4]; MNADError on a wrong shape, NaN or x1 < x0 / y1 < y0."""
    try:
        b = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise MNADError(f"{name}: expected an array [R, 4] of numbers") from None
    if b.ndim == 1 and b.size == 0:
        b = b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise MNADError(f"{name}: expected an array [R, 4] of x0, y0, x1, y1, got {b.shape}")
    if not np.isfinite(b).all():
        raise MNADError(f"{name}: boxes must be finite")
    bad = np.flatnonzero((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]))
    if bad.size:
        raise MNADError(f"{name}: box {bad[0]} {b[bad[0]].tolist()} has x1 < x0 or y1 < y0")
    return b


def from_inclusive(boxes: Any) -> np.ndarray:
    """Inclusive pixel boxes [R, 4] (x1, y1 = last pixel) -> half-open float64 [R, 4]."""
    b = _check_boxes(boxes).copy()
    b[:, 2:] += 1.0
    return b


def scale_boxes(boxes: Any, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Half-open boxes [R, 4] from an image of ``from_size`` (H, W) to ``to_size`` (h, w)."""
    (fh, fw), (th, tw) = _check_size(from_size, "from_size"), _check_size(to_size, "to_size")
    b = _check_boxes(boxes)
    return b * np.array([tw / fw, th / fh, tw / fw, th / fh])


def _check_size(size: Any, name: str) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise MNADError(f"{name}: expected (height, width), got {size!r}") from None
    if h <= 0 or w <= 0:
        raise MNADError(f"{name}: height and width must be positive, got {size!r}")
    return h, w


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of row i of ``a`` with row i of ``b``: [P, 4], [P, 4] -> [P] (0 for empty unions)."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = union - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(a: Any, b: Any) -> np.ndarray:
    """IoU of every half-open box of ``a`` [A, 4] with every box of ``b`` [B, 4] -> [A, B].

    Boxes of zero area have IoU 0 with everything.
    """
    a, b = _check_boxes(a, "a"), _check_boxes(b, "b")
    ia = np.repeat(np.arange(len(a)), len(b))
    ib = np.tile(np.arange(len(b)), len(a))
    return _pair_iou(a[ia], b[ib]).reshape(len(a), len(b))


# --- regions -----------------------------------------------------------------------------


def _check_frames(frame: Any, count: int, num_frames: int, name: str) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim != 1 or len(f) != count:
        raise MNADError(f"{name}: expected one frame index per box ({count}), got {f.shape}")
    if f.size and not np.issubdtype(f.dtype, np.integer):
        raise MNADError(f"{name}: frame indices must be integers, got {f.dtype}")
    f = f.astype(np.int64)
    if f.size and (f.min() < 0 or f.max() >= num_frames):
        raise MNADError(f"{name}: frame indices must lie in 0..{num_frames - 1}")
    return f


@dataclass
class Detections:
    """Detected regions of ``num_frames`` frames: ``frame`` int [R], ``boxes`` [R, 4]
    (half-open map pixels), ``scores`` float [R] (higher = more anomalous)."""

    frame: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    num_frames: int

    def __post_init__(self) -> None:
        self.num_frames = _check_num_frames(self.num_frames)
        self.boxes = _check_boxes(self.boxes, "detections")
        self.frame = _check_frames(self.frame, len(self.boxes), self.num_frames, "detections")
        s = np.asarray(self.scores, dtype=np.float64)
        if s.shape != (len(self.boxes),):
            raise MNADError(f"detections: expected one score per box, got {s.shape}")
        if not np.isfinite(s).all():
            raise MNADError("detections: scores must be finite")
        self.scores = s

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass
class GroundTruth:
    """Ground-truth regions of ``num_frames`` frames: ``frame`` int [R], ``boxes`` [R, 4]
    (half-open map pixels), ``track`` int [R] (regions of one event share an id)."""

    frame: np.ndarray
    boxes: np.ndarray
    track: np.ndarray
    num_frames: int

    def __post_init__(self) -> None:
        self.num_frames = _check_num_frames(self.num_frames)
        self.boxes = _check_boxes(self.boxes, "ground truth")
        self.frame = _check_frames(self.frame, len(self.boxes), self.num_frames, "ground truth")
        t = np.asarray(self.track)
        if t.shape != (len(self.boxes),) or (t.size and not np.issubdtype(t.dtype, np.integer)):
            raise MNADError(f"ground truth: expected one integer track id per box, got {t.shape}")
        self.track = t.astype(np.int64)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def num_tracks(self) -> int:
        return int(np.unique(self.track).size)


def _check_num_frames(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise MNADError(f"num_frames must be a positive integer, got {n!r}")
    return int(n)


def _check_stack(maps: Any, name: str) -> np.ndarray:
    m = np.asarray(maps)
    if m.ndim != 3 or m.shape[0] == 0 or 0 in m.shape[1:]:
        raise MNADError(f"{name}: expected a non-empty array [N, h, w], got {m.shape}")
    return m


def _components(
    fg: np.ndarray, connectivity: int, values: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Connected components of every frame of ``fg`` bool [N, h, w], in one labelling.

    Returns frame int [K], half-open boxes [K, 4], area int [K], and the max and mean of
    ``values`` [N, h, w] over each component (zeros without values); K in frame order.
    """
    if connectivity not in (4, 8):
        raise MNADError(f"connectivity must be 4 or 8, got {connectivity!r}")
    structure = np.zeros((3, 3, 3), dtype=bool)  # neighbours within a frame only
    structure[1] = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    labels, k = ndimage.label(fg, structure=structure)
    if k == 0:
        z = np.zeros(0)
        return np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, np.int64), z, z
    t, y, x = np.nonzero(labels)
    lab = labels[t, y, x]
    order = np.argsort(lab, kind="stable")  # group the pixels of each component
    lab, t, y, x = lab[order], t[order], y[order], x[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])  # labels 1..k, each non-empty
    area = np.diff(np.r_[starts, lab.size])
    boxes = np.stack(
        [
            np.minimum.reduceat(x, starts),
            np.minimum.reduceat(y, starts),
            np.maximum.reduceat(x, starts) + 1,
            np.maximum.reduceat(y, starts) + 1,
        ],
        axis=1,
    ).astype(np.float64)
    if values is None:
        vmax = vmean = np.zeros(k)
    else:
        v = values[t, y, x].astype(np.float64)
        vmax = np.maximum.reduceat(v, starts)
        vmean = np.add.reduceat(v, starts) / area
    return t[starts].astype(np.int64), boxes, area.astype(np.int64), vmax, vmean


def detect_regions(
    error_maps: Any,
    threshold: float,
    *,
    min_area: int = 1,
    connectivity: int = 8,
    score: str = "max",
) -> Detections:
    """Regions of ``error_maps`` [N, h, w] above ``threshold``, one box per component.

    A region is a connected component (``connectivity`` 4 or 8) of ``map > threshold`` in
    one frame with at least ``min_area`` pixels; its score is the "max" (default) or "mean"
    of the map over the component. Returns :class:`Detections` with num_frames = N.
    """
    maps = _check_stack(error_maps, "error_maps").astype(np.float32, copy=False)
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise MNADError(f"threshold must be a finite number, got {threshold!r}")
    if score not in ("max", "mean"):
        raise MNADError(f"score must be 'max' or 'mean', got {score!r}")
    if isinstance(min_area, bool) or not isinstance(min_area, (int, np.integer)) or min_area < 1:
        raise MNADError(f"min_area must be a positive integer, got {min_area!r}")
    frame, boxes, area, vmax, vmean = _components(maps > threshold, connectivity, maps)
    keep = area >= min_area
    scores = vmax if score == "max" else vmean
    return Detections(frame[keep], boxes[keep], scores[keep], len(maps))


def pixel_threshold(maps: Any, quantile: float = 0.99) -> float:
    """The ``quantile`` of all pixels of ``maps`` (any shape): a pixel threshold for
    :func:`detect_regions` chosen without test labels, from maps of normal frames (e.g.
    the training videos' error maps)."""
    q = float(quantile)
    if not 0.0 <= q <= 1.0:
        raise MNADError(f"quantile must lie in [0, 1], got {quantile!r}")
    m = np.asarray(maps, dtype=np.float32).ravel()
    m = m[np.isfinite(m)]
    if m.size == 0:
        raise MNADError("pixel_threshold: no finite map values")
    return float(np.quantile(m, q))


# --- ground truth ------------------------------------------------------------------------


def _frame_keys(num_frames: int, video_ids: Any, frame_index: Any) -> tuple[np.ndarray, np.ndarray]:
    """Video id and frame number [N] of each row (one video, t = row, when not given)."""
    if video_ids is None and frame_index is None:
        return np.zeros(num_frames, np.int64), np.arange(num_frames, dtype=np.int64)
    if video_ids is None or frame_index is None:
        raise MNADError("give both video_ids and frame_index, or neither")
    v, t = np.asarray(video_ids), np.asarray(frame_index)
    if v.shape != (num_frames,) or t.shape != (num_frames,):
        raise MNADError(
            f"video_ids {v.shape} and frame_index {t.shape} must both have one entry per "
            f"frame ({num_frames})"
        )
    v, t = v.astype(np.int64), t.astype(np.int64)
    key = np.stack([v, t], axis=1)
    if len(np.unique(key, axis=0)) != num_frames:
        raise MNADError("video_ids and frame_index name the same frame twice")
    return v, t


def _region_times(
    f: np.ndarray, regions: int, video_ids: Any, frame_index: Any
) -> tuple[np.ndarray, np.ndarray]:
    """(video, frame number) of each region from its row ``f`` of the evaluated stack."""
    if f.shape != (regions,) or (f.size and not np.issubdtype(f.dtype, np.integer)):
        raise MNADError(f"frame: expected one integer frame per box ({regions}), got {f.shape}")
    if video_ids is None and frame_index is None:
        n = int(f.max()) + 1 if f.size else 1
    else:
        n = len(np.atleast_1d(np.asarray(video_ids if video_ids is not None else frame_index)))
    if f.size and (f.min() < 0 or f.max() >= n):
        raise MNADError(f"frame: indices must lie in 0..{n - 1}")
    vid, time = _frame_keys(n, video_ids, frame_index)
    return vid[f], time[f]


def _greedy_pairs(new: np.ndarray, live: np.ndarray, link_iou: float) -> list[tuple[int, int]]:
    """(new box, live track) pairs with IoU >= ``link_iou``, highest IoU first, each box
    and each track used once."""
    if not len(live) or not len(new):
        return []
    iou = box_iou(new, live)
    rows, cols = np.nonzero(iou >= link_iou)
    pairs, used_rows, used_cols = [], set(), set()
    for k in np.argsort(-iou[rows, cols], kind="stable"):  # greedy, best first
        r, c = int(rows[k]), int(cols[k])
        if r not in used_rows and c not in used_cols:
            pairs.append((r, c))
            used_rows.add(r)
            used_cols.add(c)
    return pairs


def link_tracks(
    frame: Any,
    boxes: Any,
    video_ids: Any = None,
    frame_index: Any = None,
    *,
    link_iou: float = 0.1,
    max_gap: int = 1,
) -> np.ndarray:
    """Track id [R] (0, 1, ... in order of first appearance) for regions without events.

    ``frame`` [R] are rows of the evaluated stack, ``boxes`` [R, 4]; ``video_ids`` and
    ``frame_index`` [N] say which video and frame number each row is (default: one video,
    row = frame number). In time order within each video, a region continues the track
    whose latest region, at most ``max_gap`` frames earlier, has the highest IoU with it
    (>= ``link_iou``); greedy, highest IoU first, one region per track and frame; other
    regions start new tracks.
    """
    b = _check_boxes(boxes, "boxes")
    v, t = _region_times(np.asarray(frame), len(b), video_ids, frame_index)
    if isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer)) or max_gap < 1:
        raise MNADError(f"max_gap must be a positive integer, got {max_gap!r}")
    if not 0.0 < float(link_iou) <= 1.0:
        raise MNADError(f"link_iou must lie in (0, 1], got {link_iou!r}")
    order = np.lexsort((t, v))
    track = np.full(len(b), -1, np.int64)
    next_id = 0
    group_start = np.flatnonzero(
        np.r_[True, (v[order][1:] != v[order][:-1]) | (t[order][1:] != t[order][:-1])]
    )
    live_box = np.zeros((0, 4))
    live_last = np.zeros(0, np.int64)
    live_id = np.zeros(0, np.int64)
    current_video = None
    for g, s in enumerate(group_start):  # one step per frame that has regions
        idx = order[s : group_start[g + 1] if g + 1 < len(group_start) else len(order)]
        video, now = v[idx[0]], t[idx[0]]
        if video != current_video:
            live_box, live_last, live_id = np.zeros((0, 4)), np.zeros(0, np.int64), live_id[:0]
            current_video = video
        alive = np.flatnonzero(live_last >= now - max_gap)
        taken = np.zeros(len(idx), bool)
        for r, c in _greedy_pairs(b[idx], live_box[alive], link_iou):
            taken[r] = True
            track[idx[r]] = live_id[alive[c]]
            live_box[alive[c]] = b[idx[r]]
            live_last[alive[c]] = now
        fresh = idx[~taken]
        track[fresh] = np.arange(next_id, next_id + len(fresh))
        next_id += len(fresh)
        live_box = np.concatenate([live_box, b[fresh]])
        live_last = np.concatenate([live_last, np.full(len(fresh), now)])
        live_id = np.concatenate([live_id, track[fresh]])
    return track


def truth_from_masks(
    masks: Any,
    video_ids: Any = None,
    frame_index: Any = None,
    *,
    min_area: int = 1,
    connectivity: int = 8,
    link_iou: float = 0.1,
    max_gap: int = 1,
) -> GroundTruth:
    """Ground truth from pixel masks [N, h, w] (nonzero = anomalous), at the maps' size.

    Each connected component of a frame is one region (its bounding box, half-open);
    regions are linked into tracks by :func:`link_tracks` (``video_ids``/``frame_index``
    [N] say which frames are consecutive; default: all rows one video).
    """
    m = _check_stack(masks, "masks")
    if isinstance(min_area, bool) or not isinstance(min_area, (int, np.integer)) or min_area < 1:
        raise MNADError(f"min_area must be a positive integer, got {min_area!r}")
    frame, boxes, area, _, _ = _components(m != 0, connectivity)
    keep = area >= min_area
    frame, boxes = frame[keep], boxes[keep]
    if video_ids is None and frame_index is None:
        video_ids, frame_index = np.zeros(len(m), np.int64), np.arange(len(m))
    _frame_keys(len(m), video_ids, frame_index)  # shape checks before linking
    track = link_tracks(frame, boxes, video_ids, frame_index, link_iou=link_iou, max_gap=max_gap)
    return GroundTruth(frame, boxes, track, len(m))


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj[name]
    return getattr(obj, name)


def truth_from_events(
    events: Iterable[Any],
    videos: Sequence[str],
    video_ids: Any,
    frame_index: Any,
    *,
    frame_size: tuple[int, int] | None = None,
    map_size: tuple[int, int] | None = None,
) -> GroundTruth:
    """Ground truth from events with per-frame inclusive boxes (synthetic ``dataset.events``).

    ``events``: objects or dicts with ``video`` (a name in ``videos``) and ``boxes``
    ({frame number: [x0, y0, x1, y1]}, inclusive pixels of the source frame); one event is
    one track. ``video_ids``/``frame_index`` [N] map the evaluated rows to (video, frame);
    event frames that are not among them (e.g. the first frames, which are not predicted)
    and events of videos not in ``videos`` are skipped. ``frame_size`` and ``map_size``
    (H, W) rescale the boxes from the frames to the maps.
    """
    if (frame_size is None) != (map_size is None):
        raise MNADError("give both frame_size and map_size (to rescale boxes), or neither")
    n = len(np.asarray(video_ids))
    if n == 0:
        raise MNADError("video_ids: no evaluated frames")
    vid, time = _frame_keys(n, video_ids, frame_index)
    position = {str(name): i for i, name in enumerate(videos)}
    ev_vid, ev_t, ev_box, ev_track = [], [], [], []
    for j, event in enumerate(events):
        try:
            name, frame_boxes = str(_field(event, "video")), dict(_field(event, "boxes"))
            ts = [int(t) for t in frame_boxes]
        except (KeyError, AttributeError, TypeError, ValueError):
            raise MNADError(f"event {j}: needs 'video' and 'boxes' {{frame: box}}") from None
        if name not in position:
            continue
        ev_vid += [position[name]] * len(ts)
        ev_t += ts
        ev_box += list(frame_boxes.values())
        ev_track += [j] * len(ts)
    boxes = from_inclusive(ev_box if ev_box else np.zeros((0, 4)))
    if frame_size is not None:
        boxes = scale_boxes(boxes, frame_size, map_size)
    ev_vid_a, ev_t_a = np.asarray(ev_vid, np.int64), np.asarray(ev_t, np.int64)
    stride = int(max(time.max(), ev_t_a.max(initial=0))) + 1
    keys = vid * stride + time
    order = np.argsort(keys)
    wanted = ev_vid_a * stride + ev_t_a
    pos = np.clip(np.searchsorted(keys[order], wanted), 0, n - 1)
    found = keys[order][pos] == wanted
    rows = order[pos[found]]
    return GroundTruth(rows, boxes[found], np.asarray(ev_track, np.int64)[found], n)


# --- criteria ----------------------------------------------------------------------------


@dataclass
class LocalizationResult:
    """RBDC and TBDC with their sweep (all curve arrays [T], thresholds high to low).

    ``fp_per_frame``, ``region_rate`` and ``track_rate`` are the points of the sweep at
    ``thresholds`` (detections with score >= threshold); :meth:`curve` gives the closed
    curve that was integrated. rbdc/tbdc are None without ground-truth regions.
    """

    rbdc: float | None
    tbdc: float | None
    beta: float
    alpha: float
    num_frames: int
    num_detections: int
    num_true_positives: int
    num_regions: int
    num_regions_matched: int
    num_tracks: int
    num_tracks_detected: int
    thresholds: np.ndarray
    fp_per_frame: np.ndarray
    region_rate: np.ndarray
    track_rate: np.ndarray

    def curve(self, which: str = "region") -> tuple[np.ndarray, np.ndarray]:
        """The integrated curve (FP per frame [P], rate [P]) of "region" or "track"."""
        if which not in ("region", "track"):
            raise MNADError(f"curve: which must be 'region' or 'track', got {which!r}")
        rate = self.region_rate if which == "region" else self.track_rate
        return _closed_curve(self.fp_per_frame, rate)

    def to_dict(self, curves: bool = True) -> dict[str, Any]:
        """Plain Python values (JSON-serialisable); the sweep arrays as lists if ``curves``."""
        out: dict[str, Any] = {
            "rbdc": self.rbdc,
            "tbdc": self.tbdc,
            "beta": self.beta,
            "alpha": self.alpha,
            "num_frames": self.num_frames,
            "num_detections": self.num_detections,
            "num_true_positives": self.num_true_positives,
            "num_regions": self.num_regions,
            "num_regions_matched": self.num_regions_matched,
            "num_tracks": self.num_tracks,
            "num_tracks_detected": self.num_tracks_detected,
        }
        if curves:
            for key in ("thresholds", "fp_per_frame", "region_rate", "track_rate"):
                out[key] = [float(x) for x in getattr(self, key)]
        return out


def _closed_curve(fpr: np.ndarray, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start at (0, 0), cut at FP rate 1 or extend flat to it: ([P], [P])."""
    x, y = np.r_[0.0, fpr], np.r_[0.0, rate]
    over = np.flatnonzero(x >= 1.0)
    if over.size == 0:
        return np.r_[x, 1.0], np.r_[y, y[-1]]
    j = over[0]  # >= 1 since x[0] = 0; the segment j-1 -> j crosses 1
    y_at_1 = y[j - 1] + (y[j] - y[j - 1]) * (1.0 - x[j - 1]) / (x[j] - x[j - 1])
    return np.r_[x[:j], 1.0], np.r_[y[:j], y_at_1]


def _area(fpr: np.ndarray, rate: np.ndarray) -> float:
    x, y = _closed_curve(fpr, rate)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def _frame_pairs(
    det_frame: np.ndarray, gt_frame: np.ndarray, num_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """All (detection, ground-truth) index pairs of the same frame: [P], [P]."""
    g_order = np.argsort(gt_frame, kind="stable")
    g_count = np.bincount(gt_frame, minlength=num_frames)
    g_start = np.cumsum(g_count) - g_count
    per_det = g_count[det_frame]
    d_idx = np.repeat(np.arange(len(det_frame)), per_det)
    offset = np.arange(per_det.sum()) - np.repeat(np.cumsum(per_det) - per_det, per_det)
    g_idx = g_order[np.repeat(g_start[det_frame], per_det) + offset]
    return d_idx, g_idx


def _count_at_least(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many ``values`` are >= each threshold: [T]."""
    v = np.sort(values)
    return len(v) - np.searchsorted(v, thresholds, side="left")


def _check_criteria(
    detections: Detections, truth: GroundTruth, beta: float, alpha: float
) -> tuple[float, float]:
    """(β, α) as floats, after one-line checks of the inputs of RBDC/TBDC."""
    if not isinstance(detections, Detections) or not isinstance(truth, GroundTruth):
        raise MNADError("localization_criteria expects Detections and GroundTruth")
    if detections.num_frames != truth.num_frames:
        raise MNADError(
            f"detections cover {detections.num_frames} frames but the ground truth "
            f"{truth.num_frames}"
        )
    if not 0.0 < float(beta) <= 1.0:
        raise MNADError(f"beta must lie in (0, 1], got {beta!r}")
    if not 0.0 < float(alpha) <= 1.0:
        raise MNADError(f"alpha must lie in (0, 1], got {alpha!r}")
    return float(beta), float(alpha)


def localization_criteria(
    detections: Detections,
    truth: GroundTruth,
    *,
    beta: float = BETA,
    alpha: float = ALPHA,
) -> LocalizationResult:
    """RBDC and TBDC of ``detections`` against ``truth`` (same num_frames), swept over
    every distinct detection score (see the module docstring for the definitions)."""
    beta, alpha = _check_criteria(detections, truth, beta, alpha)
    n = detections.num_frames
    d_idx, g_idx = _frame_pairs(detections.frame, truth.frame, n)
    hit = _pair_iou(detections.boxes[d_idx], truth.boxes[g_idx]) >= beta
    d_hit, g_hit = d_idx[hit], g_idx[hit]
    tp = np.zeros(len(detections), bool)
    tp[d_hit] = True
    # a region is matched at threshold s iff its best overlapping detection scores >= s
    region_score = np.full(len(truth), -np.inf)
    np.maximum.at(region_score, g_hit, detections.scores[d_hit])
    # a track of m regions is detected at s iff its ceil(alpha m)-th best region score >= s
    ids, inverse, size = np.unique(truth.track, return_inverse=True, return_counts=True)
    need = np.maximum(1, np.ceil(np.round(alpha * size, 9))).astype(np.int64)  # 0.28*25 != 7
    by_track = np.lexsort((-region_score, inverse))  # per track, best region first
    first = np.cumsum(size) - size
    track_score = region_score[by_track][first + need - 1]

    thresholds = np.unique(detections.scores)[::-1]
    fp = _count_at_least(detections.scores[~tp], thresholds)
    matched = _count_at_least(region_score, thresholds)
    found = _count_at_least(track_score, thresholds)
    fpr = fp / n
    defined = len(truth) > 0
    region_rate = matched / len(truth) if defined else np.zeros(len(thresholds))
    track_rate = found / len(ids) if defined else np.zeros(len(thresholds))
    return LocalizationResult(
        rbdc=_area(fpr, region_rate) if defined else None,
        tbdc=_area(fpr, track_rate) if defined else None,
        beta=beta,
        alpha=alpha,
        num_frames=n,
        num_detections=len(detections),
        num_true_positives=int(tp.sum()),
        num_regions=len(truth),
        num_regions_matched=int(np.isfinite(region_score).sum()),
        num_tracks=len(ids),
        num_tracks_detected=int(np.isfinite(track_score).sum()),
        thresholds=thresholds,
        fp_per_frame=fpr,
        region_rate=region_rate,
        track_rate=track_rate,
    )


def localize(
    error_maps: Any,
    truth: GroundTruth,
    threshold: float,
    *,
    min_area: int = 1,
    connectivity: int = 8,
    score: str = "max",
    beta: float = BETA,
    alpha: float = ALPHA,
) -> LocalizationResult:
    """:func:`detect_regions` on ``error_maps`` [N, h, w], then :func:`localization_criteria`."""
    det = detect_regions(
        error_maps, threshold, min_area=min_area, connectivity=connectivity, score=score
    )
    return localization_criteria(det, truth, beta=beta, alpha=alpha)

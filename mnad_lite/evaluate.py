"""Evaluation: score every test frame, then report every evaluation choice side by side.

For each test frame t (the last frame of a clip; for prediction the first t_length - 1
frames of a video have no prediction and are dropped from scores *and* labels):

- PSNR P_t (Eq. 14), feature distance D_t (Eq. 15), regular score eps_t (Eqs. 6-7);
- with the test-time update on, the memory is updated with the frame's queries when
  eps_t < gamma (Eq. 7). The updated memory carries over to the next frame and the next
  video, as in the authors' code.

Batching never changes a result (unlike the authors' test loop, which scores only the
first frame of a batch): the encoder runs batched; with the test-time update, the
memory read and decoder then run frame by frame, since frame t+1 reads the items that
frame t may have updated. Without the update everything is batched.

``evaluate(run, data)`` writes ``RUN/scores.csv``, ``RUN/eval.json`` and
``RUN/figures/``.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader

from mnad_lite.checkpoint import load_checkpoint
from mnad_lite.config import Config
from mnad_lite.errors import DataError
from mnad_lite.model import MNAD
from mnad_lite.scoring import (
    TABLE_KEYS,
    anomaly_score,
    evaluation_table,
    frame_auc,
    psnr,
    regular_score,
)
from mnad_lite.train import pick_device, split_clip

MAP_SIZE = 64  # side of the stored per-frame error maps (pixel AUC, pictures)
MAX_PIXELS = 20_000_000  # pixel AUC subsamples frames beyond this many pixels


@dataclass
class FrameScores:
    """Per-frame results over all test videos, concatenated in video order.

    Arrays are ``[N]`` (N scored frames) except ``error_maps`` ``[N, h, w]`` float16
    (squared error on [0, 1] frames, mean over channels, resized to at most MAP_SIZE).
    """

    videos: list[str]
    video_ids: np.ndarray
    frame_index: np.ndarray
    psnr: np.ndarray
    distance: np.ndarray
    regular: np.ndarray
    updated: np.ndarray
    labels: np.ndarray | None
    error_maps: np.ndarray
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.psnr)


def _map_size(size: tuple[int, int]) -> tuple[int, int]:
    h, w = size
    scale = min(1.0, MAP_SIZE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


@torch.no_grad()
def score_videos(
    model: MNAD,
    videos: list,
    config: Config,
    test_update: bool | None = None,
    batch_size: int | None = None,
    device: torch.device | None = None,
    progress: bool = False,
) -> FrameScores:
    """Run ``model`` over ``videos`` and compute P, D and eps for every scorable frame.

    The model's memory items change when ``test_update`` is on (work on a copy if
    you need the trained items again).
    """
    from tqdm.auto import tqdm

    from mnad_lite.data import ClipDataset

    device = device or next(model.parameters()).device
    test_update = config.test_update if test_update is None else test_update
    update_on = bool(test_update) and model.memory is not None
    batch_size = batch_size or config.eval_batch_size
    model.eval()
    map_hw = _map_size(config.size)
    rows: dict[str, list] = {k: [] for k in ("vid", "t", "psnr", "dist", "reg", "upd", "maps")}
    labels: list[np.ndarray] | None = []
    tic = time.perf_counter()
    for vid, video in enumerate(tqdm(videos, desc="scoring", disable=not progress)):
        clips = ClipDataset([video], config.t_length, config.size, config.channels)
        if video.labels is None:
            labels = None
        elif labels is not None:
            labels.append(np.asarray(video.labels)[clips.index[:, 1]])
        for clip in DataLoader(clips, batch_size=batch_size):
            x, target = split_clip(clip.to(device), config.method)
            if config.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            z, skips = model.encode(x)
            if update_on:
                preds, dists, upds, regs = [], [], [], []
                for i in range(len(x)):
                    out = model.decode(z[i : i + 1], [s[i : i + 1] for s in skips], False)
                    eps = regular_score(out.prediction, target[i : i + 1])  # Eq. 6   [1]
                    do_update = bool(eps.item() < config.gamma)
                    if do_update:  # Eq. 7: only frames that look normal update the items
                        queries = out.queries.permute(0, 2, 3, 1).reshape(-1, model.feat_dim)
                        model.memory.update_with(queries)
                    preds.append(out.prediction)
                    dists.append(out.memory.distance)
                    upds.append(do_update)
                    regs.append(eps)
                prediction, distance = torch.cat(preds), torch.cat(dists)
                updated, regular = torch.tensor(upds), torch.cat(regs)
            else:
                out = model.decode(z, skips, False)
                prediction = out.prediction
                distance = out.memory.distance if out.memory else torch.zeros(len(x))
                updated = torch.zeros(len(x), dtype=torch.bool)
                regular = regular_score(out.prediction, target)  # Eq. 6   [B]
            prediction = prediction.float()
            err = (((prediction - target) / 2) ** 2).mean(dim=1, keepdim=True)  # [0,1] scale
            rows["maps"].append(F.interpolate(err, size=map_hw, mode="area")[:, 0].half().cpu())
            rows["psnr"].append(psnr(prediction, target).cpu())
            rows["reg"].append(regular.cpu())
            rows["dist"].append(distance.float().cpu())
            rows["upd"].append(updated.cpu())
        rows["vid"].append(np.full(len(clips), vid))
        rows["t"].append(clips.index[:, 1])
    seconds = time.perf_counter() - tic

    def cat(key: str) -> np.ndarray:
        parts = rows[key]
        if not parts:
            return np.zeros(0)
        if isinstance(parts[0], torch.Tensor):
            return torch.cat(parts).numpy()
        return np.concatenate(parts)

    return FrameScores(
        videos=[v.name for v in videos],
        video_ids=cat("vid").astype(np.int64),
        frame_index=cat("t").astype(np.int64),
        psnr=cat("psnr").astype(np.float64),
        distance=cat("dist").astype(np.float64),
        regular=cat("reg").astype(np.float64),
        updated=cat("upd").astype(bool),
        labels=np.concatenate(labels).astype(np.int64) if labels else None,
        error_maps=cat("maps"),
        seconds=seconds,
    )


def pixel_auc(scores: FrameScores, videos: list) -> float | None:
    """Pixel-level ROC AUC of the error maps against the masks (None without masks)."""
    if not all(getattr(v, "has_masks", False) for v in videos):
        return None
    h, w = scores.error_maps.shape[1:]
    masks = []
    for vid, video in enumerate(videos):
        m = video.masks(size=(h, w))
        masks.append(m[scores.frame_index[scores.video_ids == vid]])
    truth = np.concatenate(masks).astype(np.uint8)
    pred = scores.error_maps.astype(np.float32)
    step = max(1, int(np.ceil(truth.size / MAX_PIXELS)))  # deterministic frame subsample
    truth, pred = truth[::step].reshape(-1), pred[::step].reshape(-1)
    if truth.min() == truth.max():
        return None
    return float(roc_auc_score(truth, pred))


def per_kind_auc(
    final: np.ndarray, scores: FrameScores, events: list
) -> dict[str, dict[str, float]]:
    """Frame AUC of each anomaly kind: its frames against all normal frames."""
    if scores.labels is None or not events:
        return {}
    kinds = np.array([""] * len(scores), dtype=object)
    position = {name: i for i, name in enumerate(scores.videos)}
    for ev in events:
        if ev.video not in position:
            continue
        sel = (scores.video_ids == position[ev.video]) & (
            (scores.frame_index >= ev.start) & (scores.frame_index <= ev.end)
        )
        kinds[sel] = ev.kind
    out = {}
    normal = scores.labels == 0
    for kind in sorted({k for k in kinds if k}):
        sel = normal | (kinds == kind)
        if normal.any() and (kinds == kind).any():
            out[kind] = {
                "auc": frame_auc(final[sel], scores.labels[sel]),
                "frames": int((kinds == kind).sum()),
            }
    return out


def decision_metrics(flagged: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of thresholded decisions against frame labels."""
    tp = int((flagged & (labels == 1)).sum())
    precision = tp / max(int(flagged.sum()), 1)
    recall = tp / max(int((labels == 1).sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def write_scores_csv(
    path: Path,
    scores: FrameScores,
    final: np.ndarray,
    glob: np.ndarray,
    flagged: np.ndarray | None = None,
) -> None:
    """One row per scored frame: the inputs of Eq. 16 and the scores."""
    header = [
        "video",
        "frame",
        "label",
        "psnr",
        "feature_distance",
        "regular_score",
        "memory_updated",
        "score",
        "score_global",
    ]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header + (["flagged"] if flagged is not None else []))
        for i in range(len(scores)):
            row = [
                scores.videos[scores.video_ids[i]],
                int(scores.frame_index[i]),
                "" if scores.labels is None else int(scores.labels[i]),
                f"{scores.psnr[i]:.6f}",
                f"{scores.distance[i]:.8f}",
                f"{scores.regular[i]:.8f}",
                int(scores.updated[i]),
                f"{final[i]:.6f}",
                f"{glob[i]:.6f}",
            ]
            writer.writerow(row + ([int(flagged[i])] if flagged is not None else []))


def load_run(run: str | Path, device: torch.device | str = "cpu") -> tuple[MNAD, Config]:
    """The selected model (``RUN/model.pt``) and its configuration."""
    run = Path(run)
    model, payload = load_checkpoint(run / "model.pt", map_location=device)
    train_cfg = payload["config"].get("train")
    config = Config.from_dict(train_cfg) if isinstance(train_cfg, dict) else Config()
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model.to(device), config


def evaluate(
    run: str | Path,
    data: str | Path | Any,
    test_update: bool | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    figures: bool = True,
    progress: bool = True,
    threshold: float | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Score the test videos of ``data`` with the model of ``run``; write the results.

    ``threshold`` flags frames whose final score (Eq. 16, per-video min-max) is at least
    that value: ``scores.csv`` gets a ``flagged`` column and, with labels, the report
    gets precision, recall and F1 at that threshold. Choose it before looking at test
    labels (e.g. from held-out normal footage); never tune it on them.

    ``out`` is the folder for the results (default: the run folder), so several
    evaluation settings of one run can sit side by side.

    Returns the report written to ``RUN/eval.json`` (see
    :func:`mnad_lite.scoring.evaluation_table` for the AUC keys), plus ``pixel_auc``,
    ``per_kind_auc``, frame counts, the memory updates made and the throughput.
    """
    from mnad_lite.data import open_dataset

    run = Path(run)
    dev = pick_device(device)
    model, config = load_run(run, dev)
    dataset = open_dataset(data) if isinstance(data, (str, Path)) else data
    videos = list(dataset.test)
    if not videos:
        raise DataError(f"{dataset.root}: no test videos")
    unlabelled = [v.name for v in videos if v.labels is None]
    if unlabelled and len(unlabelled) < len(videos):
        raise DataError(f"{dataset.root}: test video {unlabelled[0]} has no frame labels")
    update = config.test_update if test_update is None else test_update
    scores = score_videos(model, videos, config, update, batch_size, dev, progress)
    distances = scores.distance if model.memory is not None else None
    lam = config.lam if distances is not None else 1.0
    final = anomaly_score(scores.psnr, distances, scores.video_ids, lam, "video")
    glob = anomaly_score(scores.psnr, distances, scores.video_ids, lam, "global")
    if scores.labels is not None and 0 < scores.labels.sum() < len(scores):
        report: dict[str, Any] = evaluation_table(
            scores.psnr, distances, scores.labels, scores.video_ids, lam
        )
    else:  # no ground truth (your own footage) or one class only: scores, no AUCs
        report = dict.fromkeys(TABLE_KEYS)
    report.update(
        pixel_auc=pixel_auc(scores, videos) if scores.labels is not None else None,
        per_kind_auc=per_kind_auc(final, scores, getattr(dataset, "events", [])),
        test_update=bool(update and model.memory is not None),
        memory_updates=int(scores.updated.sum()),
        frames=len(scores),
        anomalous_frames=None if scores.labels is None else int(scores.labels.sum()),
        videos=len(videos),
        lam=lam,
        gamma=config.gamma,
        fps=len(scores) / max(scores.seconds, 1e-9),
        device=str(dev),
        data=str(dataset.root),
        label_source=getattr(dataset, "label_source", None),
    )
    flagged = None if threshold is None else final >= threshold
    if flagged is not None:
        report["threshold"] = threshold
        report["flagged_frames"] = int(flagged.sum())
        if scores.labels is not None:
            report.update(decision_metrics(flagged, scores.labels))
    out = run if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report["run"] = str(run)
    write_scores_csv(out / "scores.csv", scores, final, glob, flagged)
    (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    if figures:
        from mnad_lite import figures as figs

        fig_dir = out / "figures"
        fig_dir.mkdir(exist_ok=True)
        report["figures"] = [str(p) for p in figs.score_curves(scores, final, fig_dir)] + [
            str(figs.error_maps(scores, final, videos, config, fig_dir / "error_maps.png"))
        ]
        (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def format_report(report: dict[str, Any]) -> str:
    """A short terminal table of the evaluation choices side by side."""
    anomalous = report["anomalous_frames"]
    lines = [
        f"frames {report['frames']} ({'no labels' if anomalous is None else anomalous} "
        f"anomalous) in {report['videos']} test videos; test-time update "
        f"{'on' if report['test_update'] else 'off'} ({report['memory_updates']} updates)",
    ]
    rows = [
        ("frame AUC, micro, per-video min-max (paper)", "frame_auc"),
        ("frame AUC, micro, one global min-max", "frame_auc_global"),
        ("frame AUC, macro (mean of per-video AUCs)", "frame_auc_macro"),
        ("frame AUC, PSNR only", "psnr_auc"),
        ("equal error rate", "eer"),
        ("average precision", "ap"),
        ("pixel AUC", "pixel_auc"),
    ]
    for label, key in rows:
        if report.get(key) is not None:
            lines.append(f"  {label:<44}: {100 * report[key]:6.2f} %")
    if report.get("macro_videos_skipped"):
        lines.append(
            f"  (macro leaves out {int(report['macro_videos_skipped'])} single-class videos)"
        )
    for kind, row in report.get("per_kind_auc", {}).items():
        lines.append(
            f"  frame AUC, {kind} ({row['frames']} frames)".ljust(46)
            + f": {100 * row['auc']:6.2f} %"
        )
    lines.append(f"  {report['fps']:.1f} frames/s on {report['device']}")
    return "\n".join(lines)

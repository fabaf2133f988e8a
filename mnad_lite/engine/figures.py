"""Pictures of an evaluation: score curves per test video, error maps on frames. Drawn on
matplotlib ``Figure`` objects (no pyplot): no screen needed, the user's backend untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PER_PAGE = 12


def shade_intervals(ax: Any, frames: np.ndarray, labels: np.ndarray) -> None:
    """Shade the anomalous intervals (labels == 1) of one video on a matplotlib axis."""
    padded = np.concatenate([[0], labels.astype(int), [0]])
    starts = np.flatnonzero(np.diff(padded) == 1)
    ends = np.flatnonzero(np.diff(padded) == -1) - 1
    for s, e in zip(starts, ends, strict=True):
        ax.axvspan(frames[s] - 0.5, frames[e] + 0.5, color="tab:red", alpha=0.15, lw=0)


def score_curves(scores: Any, final: np.ndarray, out: Path) -> list[Path]:
    """``out/score_curves[_N].png``: score curves of 12 test videos each, anomalies shaded."""
    from matplotlib.figure import Figure

    out = Path(out)
    paths = []
    for page, first in enumerate(range(0, len(scores.videos), PER_PAGE)):
        names = scores.videos[first : first + PER_PAGE]
        cols = min(3, len(names))
        rows = int(np.ceil(len(names) / cols))
        fig = Figure(figsize=(4.2 * cols, 2.4 * rows))
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax in axes.flat[len(names) :]:
            ax.axis("off")
        for ax, (offset, name) in zip(axes.flat, enumerate(names), strict=False):
            sel = scores.video_ids == first + offset
            t = scores.frame_index[sel]
            if scores.labels is not None:
                shade_intervals(ax, t, scores.labels[sel])
            ax.plot(t, final[sel], color="tab:blue", lw=1.2)
            ax.set_ylim(-0.05, 1.05)
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("frame t", fontsize=7)
            ax.set_ylabel("S_t", fontsize=7)
            ax.tick_params(labelsize=7)
        fig.suptitle("anomaly score S_t (Eq. 16); shaded: ground-truth anomalies", fontsize=10)
        fig.tight_layout()
        path = out / ("score_curves.png" if page == 0 else f"score_curves_{page + 1}.png")
        fig.savefig(path, dpi=90)
        paths.append(path)
    return paths


def error_maps(
    scores: Any, final: np.ndarray, videos: list, config: Any, path: Path, count: int = 4
) -> Path:
    """The ``count`` most anomalous frames (one per video), error maps overlaid, masks in cyan."""
    import cv2
    from matplotlib.figure import Figure

    order = np.argsort(-final, kind="stable")
    picked: list[int] = []
    for i in order:  # at most one frame per video, so the picture shows variety
        if all(scores.video_ids[i] != scores.video_ids[j] for j in picked):
            picked.append(int(i))
        if len(picked) == count:
            break
    fig = Figure(figsize=(3.2 * max(len(picked), 1), 5.2))
    axes = fig.subplots(2, max(len(picked), 1), squeeze=False)
    for col, i in enumerate(picked):
        video, t = videos[scores.video_ids[i]], scores.frame_index[i]
        frame = video.frames(tuple(config.size), config.channels)[t]
        gray = frame.mean(axis=2) if frame.ndim == 3 else frame
        err = scores.error_maps[i].astype(np.float32)
        err = cv2.resize(err, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
        axes[0, col].imshow(gray, cmap="gray", vmin=0, vmax=255)
        axes[0, col].set_title(f"{video.name} t={t} S={final[i]:.2f}", fontsize=8)
        axes[1, col].imshow(gray, cmap="gray", vmin=0, vmax=255)
        axes[1, col].imshow(err, cmap="inferno", alpha=0.6)
        masks = video.masks(size=gray.shape) if getattr(video, "has_masks", False) else None
        if masks is not None and masks[t].any():
            for ax in axes[:, col]:
                ax.contour(masks[t], levels=[0.5], colors="cyan", linewidths=1)
        for ax in axes[:, col]:
            ax.axis("off")
    axes[1, 0].set_ylabel("|Î - I|^2")
    fig.suptitle(
        "most anomalous frames: frame (top), squared prediction error (bottom); cyan: ground truth",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return Path(path)

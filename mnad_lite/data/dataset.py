"""The dataset every layout loads into: an :class:`AnomalyDataset` of :class:`Video`
objects (frame count and size known without decoding; frames from :mod:`.cache`; labels,
masks) and the synthetic data's :class:`Event` objects."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mnad_lite.data import frames as _frames
from mnad_lite.data.cache import FrameCache, default_cache


@dataclass
class Event:
    """One anomalous event of a synthetic test video: frames ``start`` to ``end`` (0-based,
    inclusive); ``boxes`` maps a frame to the visible object's [x0, y0, x1, y1] (inclusive)."""

    video: str
    kind: str
    start: int
    end: int
    boxes: dict[int, list[int]] = field(default_factory=dict)


class Video:
    """One video: ``source`` is a folder of ``frame_paths`` (sorted) or a video file (no
    frame paths); ``split`` "training" or "testing", T = ``num_frames``, (H, W) = ``frame_size``."""

    def __init__(
        self,
        name: str,
        split: str,
        source: Path,
        num_frames: int,
        frame_size: tuple[int, int],
        frame_paths: Sequence[Path] = (),
        labels: np.ndarray | Callable[[], np.ndarray] | None = None,
        mask_loader: Callable[[], np.ndarray] | None = None,
    ) -> None:
        self.name = name
        self.split = split
        self.source = Path(source)
        self.num_frames = int(num_frames)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.frame_paths = [Path(p) for p in frame_paths]
        self._labels = labels
        self._mask_loader = mask_loader
        self._signature: str | None = None

    def __repr__(self) -> str:
        h, w = self.frame_size
        return f"Video({self.split}/{self.name}, {self.num_frames} frames, {h}x{w})"

    def __len__(self) -> int:
        return self.num_frames

    @property
    def labels(self) -> np.ndarray | None:
        """Frame labels, uint8 0/1 [T] (1 = anomalous), or None without ground truth."""
        if callable(self._labels):  # loaded lazily (e.g. Avenue's volLabel masks)
            self._labels = self._labels()
        return self._labels

    @property
    def has_masks(self) -> bool:
        return self._mask_loader is not None

    def signature(self) -> str:
        """Hash of the source files' names, sizes and mtimes (part of the cache key)."""
        if self._signature is None:
            digest = hashlib.sha1()
            for p in self.frame_paths or [self.source]:
                st = p.stat()
                digest.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
            self._signature = digest.hexdigest()[:16]
        return self._signature

    def frames(
        self,
        size: tuple[int, int] | None = None,
        channels: int = 3,
        cache: FrameCache | None = None,
    ) -> np.ndarray:
        """All frames, uint8 [T, H, W, channels] (3 = RGB, 1 = gray), read-only, from the
        frame cache; ``size`` = (H, W) resizes (None: the source size)."""
        return (cache or default_cache()).video(self, size, channels)

    def decode(
        self, size: tuple[int, int] | None = None, channels: int = 3, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Decode every frame now, bypassing the cache: uint8 [T, H, W, channels] (into ``out``)."""
        if self.frame_paths:
            return _frames.decode_images(self.frame_paths, size, channels, self.frame_size, out=out)
        from mnad_lite.data.video import decode_video

        return decode_video(self.source, size, channels, self.num_frames, out=out)

    def masks(self, size: tuple[int, int] | None = None) -> np.ndarray | None:
        """Pixel masks of the anomalies, bool [T, H, W] (size = (H, W) or the frame size)."""
        if self._mask_loader is None:
            return None
        raw = self._mask_loader()  # bool or uint8 [T, h, w]
        h, w = _frames.check_size(size) or self.frame_size
        if raw.shape[1:] == (h, w):
            return raw.astype(bool)
        out = np.empty((raw.shape[0], h, w), dtype=bool)
        for t, m in enumerate(raw):
            out[t] = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return out


@dataclass(eq=False)
class AnomalyDataset:
    """A dataset found on disk: ``train`` and ``test`` videos (natural order), ``layout``
    "native", "ucsd" or "avenue", ``label_source`` relative to ``root`` (None without labels)
    and the synthetic data's ``events``."""

    root: Path
    layout: str
    train: list[Video]
    test: list[Video]
    label_source: str | None = None
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.events = self.events or []  # None from the layouts without events

    def __repr__(self) -> str:
        return (
            f"AnomalyDataset({str(self.root)!r}, layout={self.layout!r}, "
            f"train={len(self.train)} videos, test={len(self.test)} videos, "
            f"labels={self.label_source!r})"
        )

    def video(self, name: str, split: str = "testing") -> Video:
        """The video of that name in a split ("training"/"train" or "testing"/"test"); ValueError
        for another split, KeyError when there is none."""
        if split not in ("training", "train", "testing", "test"):
            raise ValueError(f"split must be 'training' or 'testing', got {split!r}")
        for v in self.train if split.startswith("train") else self.test:
            if v.name == name:
                return v
        raise KeyError(f"no {split} video named {name!r}")

    def test_labels(self) -> np.ndarray | None:
        """Labels of all test videos concatenated, uint8 [sum of T], or None."""
        labels = [v.labels for v in self.test]
        if not labels or any(lab is None for lab in labels):
            return None
        return np.concatenate(labels)

    def info(self) -> dict:
        """A summary: counts, frame size, label source, anomalous frames, masks, events."""
        labels = self.test_labels()
        test_frames = sum(v.num_frames for v in self.test)
        sizes = sorted({v.frame_size for v in self.train + self.test})
        anomalous = int(labels.sum()) if labels is not None else None
        return {
            "root": str(self.root),
            "layout": self.layout,
            "train_videos": len(self.train),
            "train_frames": sum(v.num_frames for v in self.train),
            "test_videos": len(self.test),
            "test_frames": test_frames,
            "anomalous_frames": anomalous,
            "anomalous_fraction": (
                round(anomalous / test_frames, 4) if anomalous is not None and test_frames else None
            ),
            "label_source": self.label_source,
            "masks": bool(self.test) and all(v.has_masks for v in self.test),
            "frame_size": list(sizes[0]) if len(sizes) == 1 else None,
            "frame_sizes": [list(s) for s in sizes],
            "events": dict(Counter(e.kind for e in self.events)),
        }

"""Data: one dataset abstraction over the synthetic benchmark, real datasets, your video.

- :func:`open_dataset` reads the native layout (``training/frames/<video>/<frame>.jpg``),
  the original UCSD release and CUHK Avenue as released (:mod:`.layouts`), with frame
  labels and pixel masks from every common format (:mod:`.labels`).
- :class:`ClipDataset` cuts videos into clips of t_length frames scaled to [-1, 1];
  each video is decoded once into a memory-mapped file under ``$MNAD_CACHE`` (:mod:`.cache`).
- :func:`generate` writes the synthetic Ped2-like benchmark (:mod:`.synthetic`, drawn by
  :mod:`.scene`);
  :func:`extract_frames` turns a video file into the native layout (:mod:`.video`).

``ClipDataset``, ``split_clip`` and ``extract_frames`` are imported lazily (the command
line does not pay for torch; training does not load the video tools).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnad_lite.data.cache import FrameCache, default_cache, set_default_cache
from mnad_lite.data.dataset import AnomalyDataset, Event, Video
from mnad_lite.data.frames import natural_key
from mnad_lite.data.layouts import open_dataset
from mnad_lite.data.synthetic import KINDS, generate, preview

if TYPE_CHECKING:
    from mnad_lite.data.clips import ClipDataset, split_clip
    from mnad_lite.data.video import extract_frames

__all__ = [
    "KINDS",
    "AnomalyDataset",
    "ClipDataset",
    "Event",
    "FrameCache",
    "Video",
    "default_cache",
    "extract_frames",
    "generate",
    "natural_key",
    "open_dataset",
    "preview",
    "set_default_cache",
    "split_clip",
]


def __getattr__(name: str):
    if name in ("ClipDataset", "split_clip"):
        from mnad_lite.data import clips

        return getattr(clips, name)
    if name == "extract_frames":
        from mnad_lite.data.video import extract_frames

        return extract_frames
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Data: one dataset abstraction over the synthetic benchmark, real datasets, your video.

- :func:`open_dataset` reads the native layout (``training/frames/<video>/<frame>.jpg``),
  the original UCSD release and CUHK Avenue as released (:mod:`.layouts`), with frame
  labels and pixel masks from every common format (:mod:`.labels`).
- :class:`ClipDataset` cuts videos into clips of t_length frames scaled to [-1, 1];
  frames are decoded on first use and cached within a byte limit (``MNAD_CACHE_BYTES``)
  or once into memory-mapped files (``MNAD_CACHE``) (:mod:`.frames`).
- :func:`generate` writes the synthetic Ped2-like benchmark (:mod:`.synthetic`);
  :func:`extract_frames` turns a video file into the native layout (:mod:`.video`).

``ClipDataset`` and ``split_clip`` are imported lazily, so the command line does not pay
for importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnad_lite.data.dataset import AnomalyDataset, Event, Video
from mnad_lite.data.frames import FrameCache, default_cache, natural_key, set_default_cache
from mnad_lite.data.layouts import open_dataset
from mnad_lite.data.synthetic import KINDS, generate, preview
from mnad_lite.data.video import extract_frames

if TYPE_CHECKING:
    from mnad_lite.data.clips import ClipDataset, split_clip

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
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Data: one dataset abstraction over the synthetic benchmark, real datasets, your video.

- :func:`open_dataset` reads the native layout (``training/frames/<video>/<frame>.jpg``,
  :mod:`.layouts`, labels from :mod:`.labels`) and the public benchmarks as released
  (UCSD and CUHK Avenue: :mod:`.benchmark_layouts`; their labels: :mod:`.benchmark_labels`).
- :class:`ClipDataset` cuts videos into clips of t_length frames scaled to [-1, 1];
  each video is decoded once into a memory-mapped file under ``$MNAD_CACHE`` (:mod:`.cache`).
- :func:`generate` writes the synthetic Ped2-like benchmark (:mod:`.synthetic`, drawn by
  :mod:`.scene`), :func:`preview` pictures it; :func:`extract_frames` turns a video file
  into the native layout (:mod:`.video`).

The names of ``_LAZY`` are imported on first use (the command line does not pay for torch;
training does not load the video tools).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mnad_lite.data.cache import FrameCache, default_cache, set_default_cache
from mnad_lite.data.dataset import AnomalyDataset, Event, Video
from mnad_lite.data.frames import natural_key
from mnad_lite.data.layouts import open_dataset
from mnad_lite.data.synthetic import KINDS, generate

#: Public name -> the module that defines it.
_LAZY = {
    "ClipDataset": "mnad_lite.data.clips",
    "split_clip": "mnad_lite.data.clips",
    "extract_frames": "mnad_lite.data.video",
    "preview": "mnad_lite.data.picture",
}

if TYPE_CHECKING:
    from mnad_lite.data.clips import ClipDataset, split_clip
    from mnad_lite.data.picture import preview
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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Data: one dataset abstraction over the synthetic benchmark, real datasets, your video.

:func:`open_dataset` reads a dataset folder (:mod:`.layouts`); :class:`ClipDataset` cuts its
videos into clips scaled to [-1, 1], each video decoded once into ``$MNAD_CACHE``
(:mod:`.cache`); :func:`generate` writes the synthetic benchmark and :func:`preview`
pictures it; :func:`extract_frames` turns a video file into the native layout. The names
of ``_LAZY`` are imported on first use (training does not load the video tools).
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

"""Decoding each video once: one uint8 ``[T, H, W, C]`` ``.npy`` file per (video, size,
channels), ``CACHE/frames/<name>-<H>x<W>x<C>-<key>.npy``, read back memory-mapped and
read-only by every later use in any process (memory stays bounded; the disk holds the
decoded frames once: a 54 GB dataset at 256x256 RGB needs about as much free space).

``CACHE`` is ``$MNAD_CACHE``, else ``~/.cache/mnad_lite``: never beside the dataset, which
may be read-only. The key holds the source's path and its files' names, sizes and
modification times, so an edited video is decoded again. A file is built under a lock and
renamed into place when complete: no reader sees half a file, no video is decoded twice.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock

from mnad_lite.data.frames import check_channels, check_size
from mnad_lite.errors import DataError
from mnad_lite.files import atomic_write

if TYPE_CHECKING:
    from mnad_lite.data.dataset import Video


def cache_root() -> Path:
    """``$MNAD_CACHE`` if set, else ``~/.cache/mnad_lite`` (frames, the course's runs)."""
    env = os.environ.get("MNAD_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mnad_lite"


class FrameCache:
    """Decoded, resized videos under ``root`` (default ``cache_root()/frames``), at most
    ``max_open`` mapped at once; ``decoded`` counts the frames it decoded. Thread-safe;
    pickling (spawned DataLoader workers) carries the settings only."""

    def __init__(self, root: str | Path | None = None, max_open: int = 64) -> None:
        self.root = Path(root).expanduser() if root else cache_root() / "frames"
        self.max_open = max(1, int(max_open))
        self.decoded = 0
        self._maps: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root, "max_open": self.max_open}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def path(self, video: Video, size: tuple[int, int] | None, channels: int) -> Path:
        """The file that holds ``video`` at ``size`` (None: its own) and ``channels``."""
        h, w = check_size(size) or video.frame_size
        key = (str(Path(video.source).resolve()), video.signature(), (h, w), channels)
        digest = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(video.source).name)
        return self.root / f"{stem}-{h}x{w}x{check_channels(channels)}-{digest}.npy"

    def video(
        self, video: Video, size: tuple[int, int] | None = None, channels: int = 3
    ) -> np.ndarray:
        """All frames of ``video``, uint8 ``[T, H, W, channels]``, read-only (mapped)."""
        path = self.path(video, size, channels)
        key = (path, os.getpid())
        with self._lock:
            arr = self._maps.get(key)
            if arr is not None:
                self._maps.move_to_end(key)
                return arr
        shape = (video.num_frames, *(check_size(size) or video.frame_size), channels)
        arr = _load(path, shape)
        if arr is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(path.with_name(path.name + ".lock")):
                arr = _load(path, shape)  # another process may have built it meanwhile
                if arr is None:
                    self._build(video, path, shape)
                    arr = _load(path, shape)
        if arr is None:
            raise DataError(f"{path}: the frame cache file cannot be read back")
        with self._lock:
            self._maps[key] = arr
            while len(self._maps) > self.max_open:
                self._maps.popitem(last=False)
        return arr

    def _build(self, video: Video, path: Path, shape: tuple[int, ...]) -> None:
        _, h, w, channels = shape
        with atomic_write(path, "w+b") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "|u1", "fortran_order": False, "shape": shape}
            )
            fh.flush()
            offset = fh.tell()
            fh.truncate(offset + int(np.prod(shape)))
            out = np.memmap(fh, np.uint8, "r+", offset, shape)
            video.decode((h, w), channels, out=out)
            out.flush()
            del out
        with self._lock:
            self.decoded += shape[0]


def _load(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The mapped file, or None when it is missing, truncated or of another shape."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):  # a truncated file from a killed run: rebuilt
        return None
    return arr if arr.shape == shape and arr.dtype == np.uint8 else None


_default_cache: FrameCache | None = None


def default_cache() -> FrameCache:
    """The process-wide cache, under :func:`cache_root` as it is at first use."""
    global _default_cache
    if _default_cache is None:
        _default_cache = FrameCache()
    return _default_cache


def set_default_cache(cache: FrameCache | None) -> None:
    """Replace the process-wide cache (None: rebuild it from the environment on next use)."""
    global _default_cache
    _default_cache = cache

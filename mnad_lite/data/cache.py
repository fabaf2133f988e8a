"""Decoding each video once: one uint8 ``[T, H, W, C]`` ``.npy`` file per (video, size,
channels), read back memory-mapped.

The first use of a video at a size decodes it into
``CACHE/frames/<name>-<H>x<W>x<C>-<key>.npy`` (a temporary file renamed into place, under
a lock file, so a reader never sees half a file and two processes never decode the same
video); every later use, in any process, maps that file. Memory stays bounded whatever the
dataset's size (mapped pages are the kernel's to share and evict); the disk holds the
decoded frames once (a 54 GB dataset at 256x256 RGB needs about as much free space).

``CACHE`` is ``$MNAD_CACHE``, else ``~/.cache/mnad_lite``: never beside the dataset, which
may be read-only. The key holds the source's path and its files' names, sizes and
modification times, so an edited video is decoded again. Arrays handed out are read-only.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from mnad_lite.data.frames import FrameSource, check_channels, check_size, decode_images
from mnad_lite.errors import DataError
from mnad_lite.files import atomic_write


def cache_root() -> Path:
    """``$MNAD_CACHE`` if set, else ``~/.cache/mnad_lite`` (frames, the course's runs)."""
    env = os.environ.get("MNAD_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mnad_lite"


class FrameCache:
    """Decoded, resized frames of whole videos, one memory-mapped ``.npy`` each.

    Args:
        root: folder of the files (None: ``cache_root() / "frames"``).
        max_open: most files kept mapped at once (each holds a descriptor).

    ``decoded`` counts the frames this cache decoded. Thread-safe; pickling (spawned
    DataLoader workers) carries the settings only, and forked workers keep the maps.
    """

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

    def __repr__(self) -> str:
        return f"FrameCache({self.root}, {len(self._maps)} videos mapped)"

    def path(self, video: FrameSource, size: tuple[int, int] | None, channels: int) -> Path:
        """The file that holds ``video`` at ``size`` (None: its own) and ``channels``."""
        h, w = self._hw(video, size)
        key = (str(Path(video.source).resolve()), video.signature(), (h, w), channels)
        digest = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(video.source).name)
        return self.root / f"{stem}-{h}x{w}x{check_channels(channels)}-{digest}.npy"

    def video(
        self, video: FrameSource, size: tuple[int, int] | None = None, channels: int = 3
    ) -> np.ndarray:
        """All frames of ``video``, uint8 ``[T, H, W, channels]``, read-only (mapped)."""
        path = self.path(video, size, channels)
        key = (path, os.getpid())
        with self._lock:
            arr = self._maps.get(key)
            if arr is not None:
                self._maps.move_to_end(key)
                return arr
        shape = (video.num_frames, *self._hw(video, size), channels)
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

    def frame(
        self, video: FrameSource, t: int, size: tuple[int, int] | None = None, channels: int = 3
    ) -> np.ndarray:
        """Frame t of ``video``, uint8 ``[H, W, channels]``, read-only."""
        return self.frame_range(video, t, t + 1, size, channels)[0]

    def frame_range(
        self,
        video: FrameSource,
        start: int,
        stop: int,
        size: tuple[int, int] | None = None,
        channels: int = 3,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Frames ``start`` to ``stop - 1``: uint8 ``[stop - start, H, W, C]``, read-only.

        ``out``: an array of that shape (any dtype and strides, e.g. a transposed float32
        view) to copy the frames into and return instead.
        """
        if not 0 <= start < stop <= video.num_frames:
            raise IndexError(f"frames {start}:{stop} out of range for {video.num_frames} frames")
        frames = self.video(video, size, channels)[start:stop]
        if out is None:
            return frames
        out[...] = frames
        return out

    def preload(
        self, video: FrameSource, size: tuple[int, int] | None = None, channels: int = 3
    ) -> int:
        """Build the video's file now if missing; returns how many frames were decoded."""
        before = self.decoded
        self.video(video, size, channels)
        return self.decoded - before

    @staticmethod
    def _hw(video: FrameSource, size: tuple[int, int] | None) -> tuple[int, int]:
        return tuple(check_size(size) or video.frame_size)  # type: ignore[return-value]

    def _build(self, video: FrameSource, path: Path, shape: tuple[int, ...]) -> None:
        """Decode the whole video into a temporary .npy, renamed into place when complete."""
        _, h, w, channels = shape
        with atomic_write(path, "w+b") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "|u1", "fortran_order": False, "shape": shape}
            )
            fh.flush()
            offset = fh.tell()
            fh.truncate(offset + int(np.prod(shape)))
            out = np.memmap(fh, np.uint8, "r+", offset, shape)
            if video.frame_paths:
                decode_images(video.frame_paths, (h, w), channels, video.frame_size, out=out)
            else:
                from mnad_lite.data.video import decode_video

                decode_video(video.source, (h, w), channels, video.num_frames, out=out)
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

"""Decoding frames once, in bounded memory: image sequences and video files, resized, cached.

Decoding a JPEG costs far more than slicing an array, so a decoded frame is kept and reused,
but a dataset can be larger than RAM (ShanghaiTech's training set is about 54 GB of 256x256
RGB frames), so what is kept is bounded. A :class:`FrameCache` keeps frames per
(video, size, channels) in one of two places:

- **in memory** (default): frames decoded on first use, kept in chunks of consecutive frames
  of one video (about ``chunk_bytes``, each chunk its own anonymous memory map, returned to
  the operating system when evicted), in a least-recently-used cache of at most
  ``max_bytes`` bytes. The limit is the ``max_bytes`` argument, else the
  ``MNAD_CACHE_BYTES`` environment variable (``4G``, ``512M``, ``1000000`` or ``25%`` of
  physical RAM; K/M/G/T are powers of 1024), else :func:`default_cache_bytes`: a quarter of
  physical RAM, at most 4 GiB. A video larger than the limit is decoded frame by frame on
  demand, never refused. When every frame of an epoch fits, no frame is decoded twice;
  when they do not, evicted frames are decoded again when next needed (a ``ClipDataset``
  warns at construction).
- **on disk** when a cache folder is given (``FrameCache(cache_dir)`` or ``MNAD_CACHE``):
  each video is decoded once, frame by frame, into a uint8 [T, H, W, C] ``.npy`` file
  (written to a temporary file and renamed, under a lock file, so a reader never sees half
  a file and two processes do not decode the same video), then read with
  ``np.load(mmap_mode="r")``. Memory-mapped arrays do not count toward ``max_bytes``: their
  pages belong to the operating system's page cache, which the kernel evicts under
  pressure and which DataLoader workers share. This is the way to train on a dataset
  larger than RAM without decoding it every epoch. The cache is never written beside the
  dataset.

The limit is per process: each DataLoader worker (``num_workers > 0``) holds its own cache,
so k workers keep up to k x ``max_bytes`` (with ``MNAD_CACHE`` they share the page cache
instead). A forked worker starts with what its parent held, and workers without
``persistent_workers`` are forked again every epoch: ``ClipDataset.preload()`` before the
DataLoader decodes what fits once, in the parent, and the workers share it.

Arrays handed out are read-only (they are shared with the cache): copy before editing.
Counters ``resident_bytes``, ``peak_bytes`` and ``decoded`` show what the cache holds and
did.

Frames come out as uint8 arrays of shape [T, H, W, C]: C = 3 is RGB (a grayscale source such
as Ped2 becomes 3 equal channels, the authors' convention), C = 1 is gray.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from mnad_lite.errors import ConfigError, DataError

#: Extensions of the image files that count as frames (compared lower-case).
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
#: Extensions of the video files that count as videos (compared lower-case).
VIDEO_EXTS = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv")
#: Environment variable holding the in-memory cache limit (see :func:`parse_bytes`).
CACHE_BYTES_ENV = "MNAD_CACHE_BYTES"
#: The default limit is this fraction of physical RAM, and at most DEFAULT_CACHE_CAP bytes.
DEFAULT_CACHE_FRACTION = 0.25
DEFAULT_CACHE_CAP = 4 << 30


def natural_key(name: str) -> tuple:
    """Sort key that orders ``"frame2" < "frame10"`` and ``"9.jpg" < "10.jpg"``."""
    parts = re.split(r"(\d+)", name)
    # even positions are text, odd positions are digits: types line up across names
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), name


def check_channels(channels: int) -> int:
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 (gray) or 3 (RGB), got {channels}")
    return channels


def check_size(size: Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if len(size) != 2 or int(size[0]) < 1 or int(size[1]) < 1:
        raise ConfigError(f"size must be (height, width) with positive values, got {size}")
    return int(size[0]), int(size[1])


def physical_memory() -> int | None:
    """Bytes of physical RAM, or None where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def default_cache_bytes() -> int:
    """The default in-memory limit: a quarter of physical RAM, at most 4 GiB."""
    ram = physical_memory()
    if ram is None:
        return DEFAULT_CACHE_CAP
    return min(DEFAULT_CACHE_CAP, int(ram * DEFAULT_CACHE_FRACTION))


_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
_BYTES_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_PERCENT_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*%")


def parse_bytes(text: str | int, name: str = CACHE_BYTES_ENV) -> int:
    """A byte count: ``1000000``, ``512M``, ``4G``, ``1.5GiB`` (powers of 1024) or ``25%`` of RAM.

    Raises ConfigError, one line naming ``name``, for anything else.
    """
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        if text < 0:
            raise ConfigError(f"{name}={text}: a byte count cannot be negative")
        return int(text)
    value = str(text).strip()
    if m := _BYTES_RE.fullmatch(value):
        return int(float(m[1]) * 1024 ** _UNITS[m[2].lower()])
    if (m := _PERCENT_RE.fullmatch(value)) and float(m[1]) <= 100:
        ram = physical_memory()
        if ram is None:
            raise ConfigError(f"{name}={value!r}: the size of RAM is unknown here; give bytes")
        return int(ram * float(m[1]) / 100)
    raise ConfigError(
        f"{name}={value!r}: expected a byte count such as 4G, 512M, 1000000 or 25% (of RAM)"
    )


def format_bytes(n: int) -> str:
    """``n`` bytes for people: ``512 B``, ``140.0 KiB``, ``3.25 GiB``."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} B"


def cache_bytes_from_env() -> int:
    """The limit ``MNAD_CACHE_BYTES`` asks for, else :func:`default_cache_bytes`."""
    value = os.environ.get(CACHE_BYTES_ENV, "").strip()
    return parse_bytes(value) if value else default_cache_bytes()


def read_image(path: Path, channels: int = 3) -> np.ndarray:
    """Decode one image file: uint8 [H, W, channels], RGB or gray.

    Raises DataError naming the file when it cannot be decoded.
    """
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    try:
        # imdecode(fromfile) rather than imread: also works for non-ASCII paths on Windows
        img = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), flag)
    except (OSError, cv2.error):
        img = None
    if img is None:
        raise DataError(f"{path}: cannot be decoded as an image")
    if channels == 1:
        return img[..., None]
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def resize(img: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize [H, W, C] to size = (H', W'): INTER_AREA when shrinking, else INTER_LINEAR."""
    if size is None or img.shape[:2] == tuple(size):
        return img
    h, w = size
    shrink = h <= img.shape[0] and w <= img.shape[1]
    out = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out[..., None] if out.ndim == 2 else out


def _hw(shape: tuple[int, ...]) -> str:
    return f"{shape[0]}x{shape[1]}"


def decode_frame(
    path: Path,
    size: tuple[int, int] | None,
    channels: int,
    frame_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode and resize one image: uint8 [H, W, channels].

    ``frame_size`` (H, W) is the size the source must have; another size is a DataError
    naming the file.
    """
    img = read_image(path, channels)
    if frame_size is not None and img.shape[:2] != tuple(frame_size):
        raise DataError(
            f"{path}: frame is {_hw(img.shape)} but the video's frames are {_hw(frame_size)}"
        )
    return resize(img, size)


def decode_images(
    paths: Sequence[Path],
    size: tuple[int, int] | None,
    channels: int,
    frame_size: tuple[int, int] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decode an image sequence into uint8 [T, H, W, channels] (into ``out`` if given).

    ``frame_size`` (H, W) is the size every source frame must have (default: the first
    frame's); a frame of another size is a DataError naming it.
    """
    if not paths:
        raise DataError("no frames to decode")
    first = read_image(paths[0], channels)
    ref = tuple(frame_size) if frame_size else first.shape[:2]
    h, w = size if size else ref
    if out is None:
        out = np.empty((len(paths), h, w, channels), dtype=np.uint8)

    def load(i: int) -> None:
        img = first if i == 0 else read_image(paths[i], channels)
        if img.shape[:2] != ref:
            raise DataError(
                f"{paths[i]}: frame is {_hw(img.shape)} but the video's frames are {_hw(ref)}"
            )
        out[i] = resize(img, (h, w))

    workers = min(4, os.cpu_count() or 1, len(paths))
    if workers <= 1:
        for i in range(len(paths)):
            load(i)
    else:  # OpenCV releases the GIL while decoding, so threads help
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(load, range(len(paths))):
                pass
    return out


def open_capture(path: Path) -> cv2.VideoCapture:
    """Open a video file with OpenCV, or raise DataError naming it."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataError(f"{path}: cannot be read as a video (OpenCV could not open it)")
    return cap


def probe_video(path: Path) -> tuple[int, tuple[int, int]]:
    """Frame count and (H, W) of a video file from its header (decodes one frame at most)."""
    cap = open_capture(path)
    try:
        count = int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        hw = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        ok, frame = cap.read()
        if not ok:
            raise DataError(f"{path}: cannot be read as a video (no frame decodes)")
        if hw[0] <= 0 or hw[1] <= 0:
            hw = frame.shape[:2]
        if count <= 0:  # header without a frame count: count by grabbing
            count = 1
            while cap.grab():
                count += 1
        return count, hw
    finally:
        cap.release()


def convert_frame(bgr: np.ndarray, channels: int) -> np.ndarray:
    """A frame as OpenCV decodes it from a video (BGR [H, W, 3]) -> RGB [H, W, 3] or
    gray [H, W, 1], the convention of every decoded frame here."""
    if channels == 1:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[..., None]
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def video_fps(path: Path) -> float | None:
    """Frames per second from a video file's header, or None when it does not say."""
    cap = open_capture(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
    return fps if np.isfinite(fps) and 0 < fps < 1000 else None


def _convert(bgr: np.ndarray, size: tuple[int, int] | None, channels: int) -> np.ndarray:
    """A decoded BGR video frame as uint8 [H, W, channels], RGB or gray, resized."""
    return resize(convert_frame(bgr, channels), size)


def _count_error(path: Path, num_frames: int, decoded: int | None) -> DataError:
    got = "more" if decoded is None else str(decoded)
    return DataError(f"{path}: header says {num_frames} frames but {got} decode")


def decode_video(
    path: Path,
    size: tuple[int, int] | None,
    channels: int,
    num_frames: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decode a video file into uint8 [T, H, W, channels], RGB or gray (into ``out`` if given).

    ``num_frames`` is the count the dataset announced (from the header); a file that
    decodes to another count is a DataError, since labels were matched to that count.
    ``out`` (shape [num_frames, H, W, channels]) requires ``num_frames``.
    """
    cap = open_capture(path)
    frames: list[np.ndarray] = []
    count = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            img = _convert(bgr, size, channels)
            if out is None:
                frames.append(img)
            elif count < len(out):
                out[count] = img
            count += 1
            if out is not None and count > len(out):
                break
    finally:
        cap.release()
    if count == 0:
        raise DataError(f"{path}: cannot be read as a video (no frame decodes)")
    if num_frames is not None and count != num_frames:
        raise _count_error(path, num_frames, None if count > num_frames else count)
    return np.stack(frames) if out is None else out


def files_signature(paths: Sequence[Path]) -> str:
    """Short hash of the files' names, sizes and modification times (a cache key part)."""
    digest = hashlib.sha1()
    for p in paths:
        st = p.stat()
        digest.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


class FrameSource(Protocol):
    """What the cache needs of a video (:class:`~mnad_lite.data.dataset.Video` has it)."""

    source: Path
    frame_paths: list[Path]
    num_frames: int
    frame_size: tuple[int, int]

    def signature(self) -> str: ...


class _Chunk:
    """K consecutive frames of one video in one private anonymous memory map, filled one by one.

    A map is returned to the operating system as soon as it is freed, where arrays from the
    C heap would leave holes in it. Only the map and small Python objects live as long as
    the chunk: the frame arrays are made on each use, since every long-lived allocation in
    the C heap between an epoch's transient clip buffers pins the heap's top and makes it
    grow (RSS was seen at 4x the cached bytes). Without such maps (Windows), a bytearray.
    """

    __slots__ = ("buf", "shape", "frame_bytes", "filled", "count", "nbytes")

    def __init__(self, k: int, shape: tuple[int, ...]) -> None:
        self.shape = shape  # of one frame, (H, W, C)
        self.frame_bytes = shape[0] * shape[1] * shape[2]
        n = k * self.frame_bytes
        try:
            self.buf: mmap.mmap | bytearray = mmap.mmap(
                -1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
            )
            self.nbytes = -(-n // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages
        except (AttributeError, OSError, ValueError):
            self.buf, self.nbytes = bytearray(n), n
        self.filled = bytearray(k)
        self.count = 0

    def frames(self, i: int, n: int = 1) -> np.ndarray:
        """Frames i to i + n - 1, uint8 [n, H, W, C]: a view of the chunk's memory, writable."""
        b = self.frame_bytes
        return np.frombuffer(self.buf, np.uint8, n * b, i * b).reshape(n, *self.shape)


class _Cursor:
    """An open video file and the index of the frame it decodes next."""

    def __init__(self, path: Path) -> None:
        self.cap = open_capture(path)
        self.next = 0


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename alone keeps the cache consistent
        yield
        return
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class FrameCache:
    """Decoded, resized frames: an LRU cache of at most ``max_bytes`` in memory, or .npy on disk.

    Args:
        cache_dir: folder of the on-disk cache (None: memory only). With a folder, videos
            are decoded once into memory-mapped .npy files and the memory cache is unused.
        max_bytes: limit of the in-memory cache in bytes (an int, or a string as
            :func:`parse_bytes` reads); None: ``$MNAD_CACHE_BYTES``, else
            :func:`default_cache_bytes`. 0 keeps nothing (every use decodes).
        chunk_bytes: about how many bytes of consecutive frames of one video are allocated
            together, the unit of eviction; None: max(256 KiB, max_bytes / 8192), so at
            most about 8192 chunks exist (each is a memory map).
        max_open_maps: most memory-mapped .npy files kept open (each holds a descriptor).

    In memory, frames live in chunks of K consecutive frames of one video (K from
    ``chunk_bytes``, at least 1), each chunk its own anonymous memory map, filled frame by
    frame as frames are first used; the least recently used chunk is evicted to make room.
    ``resident_bytes`` counts whole chunks (rounded up to pages) as soon as they exist, so
    it bounds what the cache can make resident; Python's bookkeeping (under 1 KB per chunk)
    is not counted. A frame larger than the limit is handed out without being kept.

    Keys are (source path, signature, size, channels); the signature changes when a source
    file changes, so a stale entry is never returned. Arrays handed out are read-only.
    Thread-safe; after a fork (DataLoader workers) the child keeps what was cached and
    reopens its own video files; pickling (spawned workers) carries the settings only.
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        max_bytes: int | str | None = None,
        chunk_bytes: int | str | None = None,
        max_open_maps: int = 64,
    ) -> None:
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.max_bytes = (
            cache_bytes_from_env() if max_bytes is None else parse_bytes(max_bytes, "max_bytes")
        )
        self.chunk_bytes = (
            max(256 << 10, self.max_bytes // 8192)
            if chunk_bytes is None
            else parse_bytes(chunk_bytes, "chunk_bytes")
        )
        if int(max_open_maps) < 1:
            raise ConfigError(f"max_open_maps must be at least 1, got {max_open_maps}")
        self.max_open_maps = int(max_open_maps)
        self._chunks: OrderedDict[tuple, _Chunk] = OrderedDict()  # (key, c), oldest first
        self._chunk_len: dict[tuple, int] = {}  # key -> K (0: frames too large to keep)
        self._maps: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._cursors: dict[tuple, _Cursor] = {}
        self._resolved: dict[Path, str] = {}
        self._resident = 0
        self._peak = 0
        self._count = 0
        #: frames this cache decoded (memory and disk), and frames served from memory
        self.decoded = 0
        self.hits = 0
        self._lock = threading.Lock()
        self._pid = os.getpid()

    # -- settings travel, contents do not ------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "cache_dir": self.cache_dir,
            "max_bytes": self.max_bytes,
            "chunk_bytes": self.chunk_bytes,
            "max_open_maps": self.max_open_maps,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        where = f"disk at {self.cache_dir}" if self.cache_dir else "memory"
        return (
            f"FrameCache({where}, {self._count} frames, {self._resident} of "
            f"{self.max_bytes} bytes resident)"
        )

    def __len__(self) -> int:
        """Frames held in memory."""
        return self._count

    @property
    def resident_bytes(self) -> int:
        """Bytes of the chunks held in memory now (memory-mapped .npy files not counted)."""
        return self._resident

    @property
    def peak_bytes(self) -> int:
        """Highest ``resident_bytes`` so far (since creation or :meth:`reset_peak`)."""
        return self._peak

    def reset_peak(self) -> None:
        self._peak = self._resident

    def clear(self) -> None:
        """Forget the in-memory frames and close open files (files on disk stay)."""
        self._after_fork()
        with self._lock:
            self._chunks.clear()
            self._maps.clear()
            self._resident = self._count = 0
            cursors, self._cursors = self._cursors, {}
        for cur in cursors.values():
            cur.cap.release()

    def _after_fork(self) -> None:
        if self._pid != os.getpid():  # a forked child: fresh lock, its own open videos
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._cursors = {}

    def _file(self, key: tuple) -> Path:
        assert self.cache_dir is not None
        source, _, (h, w), channels = key
        digest = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(source).name)
        return self.cache_dir / f"{stem}-{h}x{w}x{channels}-{digest}.npy"

    # -- public reads ----------------------------------------------------------------------
    def video(
        self, video: FrameSource, size: tuple[int, int] | None = None, channels: int = 3
    ) -> np.ndarray:
        """All frames of ``video``, uint8 [T, H, W, channels], read-only.

        On disk: the memory-mapped file. In memory: a fresh array assembled from the cached
        frames (each frame is cached, not the whole array).
        """
        return self.frame_range(video, 0, video.num_frames, size, channels)

    def frame(
        self, video: FrameSource, t: int, size: tuple[int, int] | None = None, channels: int = 3
    ) -> np.ndarray:
        """Frame t of ``video``, uint8 [H, W, channels], read-only: a view of the cache's memory.

        Nothing is copied: a hit returns a view of the same bytes every time.
        """
        key = self._key(video, t, t + 1, size, channels)
        if self.cache_dir is not None:
            return self._mapped(video, key)[t]
        found: list[np.ndarray] = []
        self._gather(video, key, t, t + 1, lambda _, block: found.append(block[0]))
        return found[0]

    def frame_range(
        self,
        video: FrameSource,
        start: int,
        stop: int,
        size: tuple[int, int] | None = None,
        channels: int = 3,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Frames ``start`` to ``stop - 1`` of ``video``: uint8 [stop - start, H, W, C], read-only.

        ``size`` = (H, W) (None: the source size). Decodes only the frames not cached;
        a frame that cannot be decoded is a one-line DataError naming its file. On disk the
        result is a view of the memory-mapped file, in memory a fresh array. ``out``: an
        array of that shape (any dtype and strides, e.g. a transposed float32 view) to
        copy the frames into and return instead.
        """
        key = self._key(video, start, stop, size, channels)
        if self.cache_dir is not None:
            frames = self._mapped(video, key)[start:stop]
            if out is None:
                return frames
            out[...] = frames
            return out
        fresh = out is None
        if out is None:
            out = np.empty((stop - start, *key[2], key[3]), dtype=np.uint8)
        elif out.shape != (stop - start, *key[2], key[3]):
            raise ValueError(f"out has shape {out.shape}, frames are {(stop - start, *key[2:])}")

        def put(t: int, block: np.ndarray) -> None:
            out[t - start : t - start + len(block)] = block

        self._gather(video, key, start, stop, put)
        if fresh:
            out.flags.writeable = False
        return out

    def _key(
        self,
        video: FrameSource,
        start: int,
        stop: int,
        size: tuple[int, int] | None,
        channels: int,
    ) -> tuple:
        """The video's cache key (source, signature, (H, W), channels), after checks."""
        channels = check_channels(channels)
        hw = check_size(size) or tuple(video.frame_size)
        if not 0 <= start < stop <= video.num_frames:
            raise IndexError(f"frames {start}:{stop} out of range for {video.num_frames} frames")
        self._after_fork()
        source = self._resolved.get(video.source)
        if source is None:  # resolving costs system calls: once per source
            source = self._resolved[video.source] = str(Path(video.source).resolve())
        key = (source, video.signature(), tuple(hw), channels)
        if key not in self._chunk_len:
            frame_bytes = hw[0] * hw[1] * channels
            k = min(
                video.num_frames, self.chunk_bytes // frame_bytes, self.max_bytes // frame_bytes
            )
            self._chunk_len[key] = max(1, k) if frame_bytes <= self.max_bytes else 0
        return key

    def _gather(
        self,
        video: FrameSource,
        key: tuple,
        start: int,
        stop: int,
        put: Callable[[int, np.ndarray], None],
    ) -> None:
        """Call ``put(t, block)`` with read-only uint8 [n, H, W, C] blocks of frames t..t+n-1
        that together cover [start, stop): cached runs first (one block per chunk when the
        chunk holds them all), then the decoded frames one by one."""
        missing: list[int] = []
        k = self._chunk_len[key]
        with self._lock:
            t = start
            while t < stop:
                if k == 0:
                    missing.extend(range(t, stop))
                    break
                c, i = divmod(t, k)
                end = min(stop, (c + 1) * k)
                chunk = self._chunks.get((key, c))
                if chunk is None:
                    missing.extend(range(t, end))
                else:
                    self._chunks.move_to_end((key, c))
                    n = end - t
                    if chunk.filled.find(0, i, i + n) < 0:  # all held: one block
                        runs = [(i, n)]
                    else:
                        runs = [(j, 1) for j in range(i, i + n) if chunk.filled[j]]
                        missing.extend(t + j - i for j in range(i, i + n) if not chunk.filled[j])
                    for j, m in runs:
                        block = chunk.frames(j, m)
                        block.flags.writeable = False
                        put(c * k + j, block)
                t = end
            self.hits += stop - start - len(missing)
        if missing:
            missing.sort()
            fill = self._decode_images if video.frame_paths else self._decode_video
            for t, arr in fill(video, key, missing):
                put(t, arr[None])

    def preload(
        self, video: FrameSource, size: tuple[int, int] | None = None, channels: int = 3
    ) -> int:
        """Decode every frame of ``video`` not cached yet; returns how many were decoded.

        In memory the frames become resident (image frames decode on up to 4 threads; of a
        video larger than the limit only the frames decoded last stay); on disk the video's
        file is built.
        """
        n = video.num_frames
        key = self._key(video, 0, n, size, channels)
        before = self.decoded
        if self.cache_dir is not None:
            self._mapped(video, key)
            return self.decoded - before
        with self._lock:
            missing = [t for t in range(n) if not self._has(key, t)]
        if missing and not video.frame_paths:
            for _ in self._decode_video(video, key, missing[-1:]):  # passed frames are kept
                pass
        elif missing:
            _, _, hw, channels = key

            def one(t: int) -> None:
                frame = decode_frame(video.frame_paths[t], hw, channels, video.frame_size)
                self._store(key, n, t, frame)

            workers = min(4, os.cpu_count() or 1, len(missing))
            if workers <= 1:
                for t in missing:
                    one(t)
            else:  # OpenCV releases the GIL while decoding, so threads help
                with ThreadPoolExecutor(workers) as pool:
                    for _ in pool.map(one, missing):
                        pass
        return self.decoded - before

    # -- memory ----------------------------------------------------------------------------
    def _has(self, key: tuple, t: int) -> bool:
        """Whether frame t is held (call with the lock held)."""
        k = self._chunk_len[key]
        if k == 0:
            return False
        c, i = divmod(t, k)
        chunk = self._chunks.get((key, c))
        return chunk is not None and bool(chunk.filled[i])

    def _store(self, key: tuple, n: int, t: int, frame: np.ndarray) -> np.ndarray:
        """Keep frame t of a video of n frames, evicting least recently used chunks to fit.

        Returns the kept, read-only frame (or ``frame`` itself when it cannot be kept).
        """
        frame.flags.writeable = False
        k = self._chunk_len[key]
        with self._lock:
            self.decoded += 1
            if k == 0:
                return frame
            c, i = divmod(t, k)
            chunk = self._chunks.get((key, c))
            if chunk is None:
                chunk = _Chunk(min(k, n - c * k), frame.shape)
                while self._chunks and self._resident + chunk.nbytes > self.max_bytes:
                    _, evicted = self._chunks.popitem(last=False)
                    self._resident -= evicted.nbytes
                    self._count -= evicted.count
                if self._resident + chunk.nbytes > self.max_bytes:
                    return frame  # a lone chunk over the limit (page rounding): not kept
                self._chunks[(key, c)] = chunk
                self._resident += chunk.nbytes
                self._peak = max(self._peak, self._resident)
            else:
                self._chunks.move_to_end((key, c))
            kept = chunk.frames(i)[0]
            if not chunk.filled[i]:  # (another thread may have stored it meanwhile)
                kept[...] = frame
                chunk.filled[i] = 1
                chunk.count += 1
                self._count += 1
        kept.flags.writeable = False
        return kept

    def _decode_images(
        self, video: FrameSource, key: tuple, missing: list[int]
    ) -> Iterator[tuple[int, np.ndarray]]:
        _, _, hw, channels = key
        for t in missing:
            arr = decode_frame(video.frame_paths[t], hw, channels, video.frame_size)
            yield t, self._store(key, video.num_frames, t, arr)

    def _decode_video(
        self, video: FrameSource, key: tuple, missing: list[int]
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Decode a video file sequentially up to the last missing frame.

        An open cursor per video continues where it stopped (sequential reads decode each
        frame once); a frame before the cursor reopens the file. Frames passed on the way
        are cached too; frames already cached are skipped without converting them.
        """
        _, _, hw, channels = key
        wanted = set(missing)
        with self._lock:
            cur = self._cursors.pop(key, None)
        if cur is not None and cur.next > missing[0]:
            cur.cap.release()
            cur = None
        if cur is None:
            cur = _Cursor(video.source)
        n = video.num_frames
        try:
            while cur.next <= missing[-1]:
                t = cur.next
                with self._lock:
                    need = t in wanted or not self._has(key, t)
                ok, bgr = cur.cap.read() if need else (cur.cap.grab(), None)
                if not ok:
                    raise _count_error(video.source, n, t)
                cur.next += 1
                if need:
                    arr = self._store(key, n, t, _convert(bgr, hw, channels))
                    if t in wanted:
                        yield t, arr
            if cur.next == n:  # at the end: the header's count must be the whole video
                if cur.cap.grab():
                    raise _count_error(video.source, n, None)
                cur.cap.release()
                return
        except BaseException:
            cur.cap.release()
            raise
        with self._lock:
            if len(self._cursors) >= 4:  # a few open videos at most
                oldest = next(iter(self._cursors))
                self._cursors.pop(oldest).cap.release()
            self._cursors[key] = cur

    # -- disk ------------------------------------------------------------------------------
    def _mapped(self, video: FrameSource, key: tuple) -> np.ndarray:
        """The video's memory-mapped .npy, built once (under a lock file) if missing."""
        with self._lock:
            arr = self._maps.get(key)
            if arr is not None:
                self._maps.move_to_end(key)
                return arr
        _, _, (h, w), channels = key
        shape = (video.num_frames, h, w, channels)
        path = self._file(key)
        arr = self._load(path, shape)
        if arr is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _file_lock(path.with_name(path.name + ".lock")):
                arr = self._load(path, shape)  # another process may have built it
                if arr is None:
                    self._build(video, key, path, shape)
                    arr = self._load(path, shape)
        if arr is None:
            raise DataError(f"{path}: the frame cache file cannot be read back")
        with self._lock:
            self._maps[key] = arr
            while len(self._maps) > self.max_open_maps:
                self._maps.popitem(last=False)
        return arr

    @staticmethod
    def _load(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
        if not path.is_file():
            return None
        try:
            arr = np.load(path, mmap_mode="r")
        except (OSError, ValueError):  # a truncated file from a killed run: rebuild
            return None
        return arr if arr.shape == shape and arr.dtype == np.uint8 else None

    def _build(self, video: FrameSource, key: tuple, path: Path, shape: tuple[int, ...]) -> None:
        """Decode the whole video into a temporary .npy, then rename it into place."""
        _, _, hw, channels = key
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            if video.frame_paths:
                decode_images(video.frame_paths, hw, channels, video.frame_size, out=out)
            else:
                decode_video(video.source, hw, channels, video.num_frames, out=out)
            out.flush()
            del out
            with self._lock:
                self.decoded += shape[0]
            os.replace(tmp, path)  # atomic: readers never see half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


_default_cache: FrameCache | None = None


def default_cache() -> FrameCache:
    """The process-wide cache: on disk under ``$MNAD_CACHE`` if set, limit ``$MNAD_CACHE_BYTES``."""
    global _default_cache
    if _default_cache is None:
        _default_cache = FrameCache(os.environ.get("MNAD_CACHE") or None)
    return _default_cache


def set_default_cache(cache: FrameCache | None) -> None:
    """Replace the process-wide cache (None: rebuild it from the environment on next use)."""
    global _default_cache
    _default_cache = cache

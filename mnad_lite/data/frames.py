"""Decoding image sequences, resized, as uint8 ``[T, H, W, C]``: C = 3 is RGB (a gray source
such as Ped2 becomes 3 equal channels, the authors' convention), C = 1 is gray. A frame that
cannot be read is a one-line DataError naming its file. Video files: :mod:`.video`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from mnad_lite.errors import ConfigError, DataError

#: Extensions of the image files that count as frames (compared lower-case).
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


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


def read_image(path: Path, channels: int = 3, what: str = "an image") -> np.ndarray:
    """One image file as uint8 [H, W, channels]; DataError naming it if it does not decode."""
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    try:
        # imdecode(fromfile) rather than imread: also works for non-ASCII paths on Windows
        img = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), flag)
    except (OSError, cv2.error):
        img = None
    if img is None:
        raise DataError(f"{path}: cannot be decoded as {what}")
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


def decode_images(
    paths: Sequence[Path],
    size: tuple[int, int] | None,
    channels: int,
    frame_size: tuple[int, int] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decode an image sequence into uint8 [T, H, W, channels] (into ``out`` if given); a frame
    not of ``frame_size`` (H, W) (default: the first frame's) is a DataError naming it."""
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
            found, expected = "x".join(map(str, img.shape[:2])), "x".join(map(str, ref))
            raise DataError(f"{paths[i]}: frame is {found} but the video's frames are {expected}")
        out[i] = resize(img, (h, w))

    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:  # OpenCV releases the GIL
        list(pool.map(load, range(len(paths))))
    return out

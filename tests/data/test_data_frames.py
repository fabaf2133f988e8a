"""Decoding (channels, resizing, bad frames) and the frame cache."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from mnad_lite.data import FrameCache, open_dataset
from mnad_lite.data import cache as cache_mod
from mnad_lite.data import frames as frames_mod
from mnad_lite.data.frames import read_image, resize
from mnad_lite.errors import ConfigError, DataError


def test_gray_becomes_three_equal_channels_and_color_is_rgb(tmp_path):
    gray = tmp_path / "g.png"
    cv2.imwrite(str(gray), np.full((4, 5), 77, np.uint8))
    assert read_image(gray, 3).shape == (4, 5, 3) and (read_image(gray, 3) == 77).all()
    color = tmp_path / "c.png"
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0], bgr[..., 2] = 10, 200  # blue 10, red 200
    cv2.imwrite(str(color), bgr)
    rgb = read_image(color, 3)
    assert rgb[0, 0].tolist() == [200, 0, 10]
    assert read_image(color, 1).shape == (4, 5, 1)


def test_resize_keeps_a_channel_axis():
    img = np.zeros((24, 32, 1), np.uint8)
    assert resize(img, (12, 16)).shape == (12, 16, 1)
    assert resize(np.zeros((24, 32, 3), np.uint8), (48, 40)).shape == (48, 40, 3)


def test_video_frames_shapes(tmp_path, make):
    ds = open_dataset(make.native(tmp_path))
    v = ds.train[0]
    f = v.frames()
    assert f.shape == (6, *make.hw, 3) and f.dtype == np.uint8
    assert not f.flags.writeable  # shared with the cache
    assert v.frames((8, 10), channels=1).shape == (6, 8, 10, 1)
    assert f[:, 0, 0, 0].tolist() == [20 + 8 * i for i in range(6)]
    with pytest.raises(ConfigError):
        v.frames(channels=2)


def test_frame_that_will_not_decode(tmp_path, make):
    make.native(tmp_path)
    bad = tmp_path / "training" / "frames" / "01" / "003.png"
    bad.write_bytes(b"this is not a png")
    v = open_dataset(tmp_path).train[0]  # opening decodes only the first frame
    with pytest.raises(DataError, match=r"003\.png: cannot be decoded"):
        v.frames()


def test_frames_of_different_sizes(tmp_path, make):
    make.native(tmp_path)
    odd = tmp_path / "training" / "frames" / "01" / "004.png"
    cv2.imwrite(str(odd), np.zeros((20, 32), np.uint8))
    v = open_dataset(tmp_path).train[0]
    message = r"004\.png: frame is 20x32 but the video's frames are 24x32"
    with pytest.raises(DataError, match=message):
        v.frames()


def test_memory_cache_decodes_once(tmp_path, make, monkeypatch):
    ds = open_dataset(make.native(tmp_path))
    calls = []
    real = frames_mod.read_image
    monkeypatch.setattr(frames_mod, "read_image", lambda p, c=3: calls.append(p) or real(p, c))
    a = ds.train[0].frames((12, 16))
    b = open_dataset(tmp_path).train[0].frames((12, 16))  # a second Video of the same folder
    assert np.array_equal(a, b) and not b.flags.writeable and len(calls) == 6
    # a hit hands out a view of the cache's own memory, not a copy
    one = ds.train[0].frames((12, 16))[3]
    other = open_dataset(tmp_path).train[0].frames((12, 16))[3]
    assert one.ctypes.data == other.ctypes.data
    assert np.array_equal(one, a[3]) and len(calls) == 6
    ds.train[0].frames((12, 16), channels=1)  # another key: decoded again
    assert len(calls) == 12


def test_disk_cache_is_reused_across_caches_and_invalidated_by_edits(tmp_path, make, monkeypatch):
    root = make.native(tmp_path / "ds")
    cache_dir = tmp_path / "cache"
    v = open_dataset(root).train[0]
    first = v.frames((12, 16), cache=FrameCache(cache_dir))
    files = list(cache_dir.glob("*.npy"))
    assert len(files) == 1 and files[0].name.startswith("01-12x16x3-")
    calls = []
    again_ds = open_dataset(root)
    with monkeypatch.context() as m:
        m.setattr(frames_mod, "read_image", lambda p, c=3: calls.append(p))
        again = again_ds.train[0].frames((12, 16), cache=FrameCache(cache_dir))
    assert calls == [] and isinstance(again, np.memmap)
    assert np.array_equal(first, again)
    frame = root / "training" / "frames" / "01" / "000.png"
    cv2.imwrite(str(frame), np.full((24, 32), 250, np.uint8))
    os.utime(frame, ns=(1, 1))  # a new mtime even on coarse clocks
    fresh = open_dataset(root).train[0].frames((12, 16), cache=FrameCache(cache_dir))
    assert fresh[0, 0, 0, 0] == 250
    assert len(list(cache_dir.glob("*.npy"))) == 2


def test_default_cache_follows_mnad_cache_and_never_writes_beside_the_data(
    tmp_path, make, monkeypatch
):
    root = make.native(tmp_path / "ds")
    before = sorted(p for p in root.rglob("*"))
    monkeypatch.setenv("MNAD_CACHE", str(tmp_path / "envcache"))
    monkeypatch.setattr(cache_mod, "_default_cache", None)
    open_dataset(root).test[1].frames((8, 8))
    assert len(list((tmp_path / "envcache" / "frames").glob("*.npy"))) == 1
    assert sorted(p for p in root.rglob("*")) == before


def test_decode_bypasses_the_cache(tmp_path, make):
    v = open_dataset(make.native(tmp_path)).train[1]
    arr = v.decode((6, 8), channels=1)
    assert arr.shape == (5, 6, 8, 1) and arr.flags.writeable
    assert not list(cache_mod.default_cache().root.glob("*.npy"))

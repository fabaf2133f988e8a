"""The frame cache: each video decoded once into a memory-mapped file, read back by every
epoch, run, process and DataLoader worker; stale or broken files rebuilt; bad frames named."""

from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from mnad_lite.data import ClipDataset, FrameCache, Video, open_dataset
from mnad_lite.data import cache as cache_mod
from mnad_lite.data import frames as frames_mod
from mnad_lite.errors import DataError

SIZE = (16, 24)


def counting(monkeypatch) -> list:
    """Record every image decode (frames_mod.read_image) in the returned list."""
    calls: list = []
    real = frames_mod.read_image
    monkeypatch.setattr(frames_mod, "read_image", lambda p, c=3: calls.append(p) or real(p, c))
    return calls


@pytest.fixture
def small(tmp_path, make):
    """Native layout, PNG frames 24x32: training videos of 6, 5 and 3 frames."""
    return open_dataset(make.native(tmp_path / "data", train=(6, 5, 3), test=(6, 7)))


def test_each_video_is_decoded_once_across_epochs_caches_and_processes(
    small, tmp_path, monkeypatch
):
    calls = counting(monkeypatch)
    cache = FrameCache(tmp_path / "cache", max_open=1)
    clips = ClipDataset(small.train, t_length=2, size=SIZE, channels=1, cache=cache)
    for _ in range(2):
        torch.cat(list(torch.utils.data.DataLoader(clips, batch_size=3, shuffle=True)))
    assert len(calls) == 14 and cache.decoded == 14  # maps reopened, never rebuilt
    files = sorted((tmp_path / "cache").glob("*.npy"))
    assert len(files) == 3 and not list((tmp_path / "cache").glob("*.tmp"))
    again = FrameCache(tmp_path / "cache")  # another process, the same files
    x = ClipDataset(small.train, t_length=2, size=SIZE, channels=1, cache=again)[4]
    assert len(calls) == 14 and again.decoded == 0 and torch.equal(x, clips[4])


def test_frames_equal_a_fresh_decode_and_are_read_only(small, tmp_path):
    cache = FrameCache(tmp_path / "cache")
    v = small.train[0]
    for size, channels in ((SIZE, 1), (None, 3)):
        reference = v.decode(size, channels)
        got = cache.video(v, size, channels)
        assert got.dtype == np.uint8 and np.array_equal(got, reference)
        with pytest.raises(ValueError, match="read-only"):
            got[0, 0, 0, 0] = 1


def test_the_default_cache_lives_under_mnad_cache_never_beside_the_data(small, tmp_path):
    before = {p for p in small.root.rglob("*")}
    v = small.train[0]
    v.frames(SIZE, 1)  # through the process-wide cache
    root = Path(os.environ["MNAD_CACHE"])
    assert cache_mod.default_cache().root == root / "frames"
    assert len(list((root / "frames").glob("*.npy"))) == 1
    assert {p for p in small.root.rglob("*")} == before


def test_a_truncated_file_is_rebuilt_and_a_changed_video_gets_a_new_file(small, tmp_path):
    cache = FrameCache(tmp_path / "cache")
    v = small.train[0]
    path = cache.path(v, SIZE, 1)
    first = np.array(cache.video(v, SIZE, 1))
    path.write_bytes(path.read_bytes()[:100])  # a run killed mid-write (before the rename)
    fresh = FrameCache(tmp_path / "cache")
    assert np.array_equal(fresh.video(v, SIZE, 1), first) and fresh.decoded == v.num_frames
    os.utime(v.frame_paths[0], ns=(1, 1))  # the source changed: its signature too
    changed = open_dataset(small.root).train[0]
    assert cache.path(changed, SIZE, 1) != path


def test_two_threads_wanting_one_video_decode_it_once(small, tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    cache = FrameCache(tmp_path / "cache")
    v = small.train[0]
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(cache.video(v, SIZE, 1))) for _ in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == v.num_frames and np.array_equal(got[0], got[1])


def test_video_files_decode_once_and_a_wrong_header_is_one_line(tmp_path, make):
    path = make.avi(tmp_path / "training" / "videos" / "cam.avi", 12)
    v = open_dataset(tmp_path).train[0]
    assert v.num_frames == 12 and not v.frame_paths
    reference = v.decode(SIZE, 1)
    cache = FrameCache(tmp_path / "cache")
    order = [7, 2, 11, 0, 5, 9]
    assert all(np.array_equal(cache.video(v, SIZE, 1)[t], reference[t]) for t in order)
    assert cache.decoded == 12
    longer = Video("cam", "training", path, 14, v.frame_size)
    with pytest.raises(DataError, match=r"cam\.avi: header says 14 frames but 12 decode$"):
        FrameCache(tmp_path / "c2").video(longer, SIZE, 1)
    shorter = Video("cam", "training", path, 10, v.frame_size)
    with pytest.raises(DataError, match=r"cam\.avi: header says 10 frames but more decode$"):
        FrameCache(tmp_path / "c3").video(shorter, SIZE, 1)
    for folder in ("c2", "c3"):  # nothing half-built is left
        assert not list((tmp_path / folder).glob("*.npy"))
        assert not list((tmp_path / folder).glob("*.tmp"))


def test_a_corrupt_frame_is_a_one_line_error_and_leaves_no_file(small, tmp_path):
    bad = small.train[1].frame_paths[3]
    bad.write_bytes(b"not an image")
    clips = ClipDataset(small.train, t_length=2, size=SIZE, channels=1, cache=FrameCache(tmp_path))
    with pytest.raises(DataError) as err:
        clips[len(small.train[0].frame_paths)]  # the first clip of video 1
    assert str(err.value) == f"{bad}: cannot be decoded as an image"
    assert not list(tmp_path.glob("*.npy")) and not list(tmp_path.glob("*.tmp"))


def test_workers_get_the_settings_and_read_the_same_frames(small, tmp_path, monkeypatch):
    cache = FrameCache(tmp_path / "cache", max_open=3)
    copy = pickle.loads(pickle.dumps(cache))  # what a spawned worker receives
    assert (copy.root, copy.max_open, copy.decoded) == (cache.root, 3, 0)
    clips = ClipDataset(small.train, t_length=3, size=SIZE, channels=1, cache=cache)
    assert clips.preload() == 14 and clips.preload() == 0
    serial = torch.cat(list(torch.utils.data.DataLoader(clips, batch_size=2)))

    def no_decoding(path, channels=3):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(frames_mod, "read_image", no_decoding)
    parallel = torch.utils.data.DataLoader(clips, batch_size=2, num_workers=2)
    assert torch.equal(serial, torch.cat(list(parallel)))

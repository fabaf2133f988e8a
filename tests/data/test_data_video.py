"""extract_frames: your own video into the native layout."""

from __future__ import annotations

import numpy as np
import pytest

from mnad_lite.data import extract_frames, open_dataset
from mnad_lite.errors import DataError


@pytest.fixture
def avi(tmp_path, make):
    return make.avi(tmp_path / "clip.avi", 12)


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_all_frames_zero_based_and_padded(tmp_path, avi):
    folder = extract_frames(avi, tmp_path / "ds", "training")
    assert folder == tmp_path / "ds" / "training" / "frames" / "clip"
    assert names(folder) == [f"{i:03d}.jpg" for i in range(12)]
    v = open_dataset(tmp_path / "ds").train[0]
    assert v.num_frames == 12 and v.frame_size == (24, 32)


def test_slice_every_and_size(tmp_path, avi):
    folder = extract_frames(
        avi, tmp_path / "ds", "testing", name="cam", start=2, end=9, every=3, size=(12, 16)
    )
    assert names(folder) == ["000.jpg", "001.jpg", "002.jpg"]  # source frames 2, 5, 8
    frames = open_dataset(tmp_path / "ds").test[0].frames(channels=1)
    assert frames.shape == (3, 12, 16, 1)
    assert np.allclose(frames[:, 6, 8, 0], [20 + 8 * 2, 20 + 8 * 5, 20 + 8 * 8], atol=5)


def test_negative_start_counts_from_the_end(tmp_path, avi):
    folder = extract_frames(avi, tmp_path / "ds", "training", start=-4)
    assert len(names(folder)) == 4


def test_several_videos_in_one_root(tmp_path, avi, make):
    other = make.avi(tmp_path / "other.avi", 5)
    extract_frames(avi, tmp_path / "ds", "training")
    extract_frames(other, tmp_path / "ds", "training")
    ds = open_dataset(tmp_path / "ds")
    assert [v.name for v in ds.train] == ["clip", "other"]


def test_refuses_to_overwrite_unless_asked(tmp_path, avi):
    folder = extract_frames(avi, tmp_path / "ds", "training")
    with pytest.raises(DataError, match="already holds 12 frames; pass --overwrite"):
        extract_frames(avi, tmp_path / "ds", "training", end=3)
    assert len(names(folder)) == 12
    extract_frames(avi, tmp_path / "ds", "training", end=3, overwrite=True)
    assert names(folder) == ["000.jpg", "001.jpg", "002.jpg"]


def test_unreadable_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"definitely not a video" * 10)
    with pytest.raises(DataError, match=r"bad\.mp4: cannot be read as a video"):
        extract_frames(bad, tmp_path / "ds", "training")
    assert not (tmp_path / "ds" / "training" / "frames" / "bad").exists()


def test_missing_video(tmp_path):
    with pytest.raises(DataError, match="no such video file"):
        extract_frames(tmp_path / "nope.avi", tmp_path / "ds", "training")


def test_empty_selection_leaves_nothing(tmp_path, avi):
    with pytest.raises(DataError, match="no frames in the range"):
        extract_frames(avi, tmp_path / "ds", "training", start=20)
    assert list((tmp_path / "ds" / "training" / "frames").iterdir()) == []


def test_bad_split(tmp_path, avi):
    with pytest.raises(DataError, match="split must be"):
        extract_frames(avi, tmp_path / "ds", "validation")

"""open_dataset on every layout, and the errors for bad trees."""

from __future__ import annotations

import numpy as np
import pytest

from mnad_lite.data import AnomalyDataset, open_dataset
from mnad_lite.data.frames import natural_key
from mnad_lite.errors import DataError


def test_natural_key_orders_numbers_as_numbers():
    names = ["10.jpg", "9.jpg", "frame2.png", "frame10.png", "1.jpg"]
    assert sorted(names, key=natural_key) == [
        "1.jpg",
        "9.jpg",
        "10.jpg",
        "frame2.png",
        "frame10.png",
    ]


def test_native_layout(tmp_path, make):
    root = make.native(tmp_path / "ds")
    ds = open_dataset(root)
    assert isinstance(ds, AnomalyDataset)
    assert ds.layout == "native"
    assert [v.name for v in ds.train] == ["01", "02"]
    assert [v.num_frames for v in ds.test] == [6, 7]
    v = ds.test[0]
    assert v.split == "testing" and v.frame_size == make.hw and len(v.frame_paths) == 6
    assert v.labels.dtype == np.uint8
    assert v.labels.tolist() == [0, 0, 1, 1, 1, 0]
    assert ds.test[1].labels.tolist() == [0] * 7  # no row: normal throughout
    assert ds.label_source == "testing/labels.csv"
    assert v.has_masks and not ds.test[1].has_masks
    masks = v.masks()
    assert masks.shape == (6, *make.hw) and masks.dtype == bool
    assert masks.any(axis=(1, 2)).tolist() == [False, False, True, True, True, False]
    assert v.masks(size=(12, 16)).shape == (6, 12, 16)
    assert ds.train[0].labels is None
    info = ds.info()
    assert info["train_videos"] == 2 and info["train_frames"] == 11
    assert info["test_videos"] == 2 and info["test_frames"] == 13
    assert info["anomalous_frames"] == 3
    assert info["masks"] is False  # only one of the two test videos has masks
    assert info["frame_size"] == list(make.hw)


def test_frames_need_not_start_at_zero_nor_be_padded(tmp_path, make):
    root = tmp_path / "ds"
    names = [str(i) for i in range(5, 17)]  # 5.png ... 16.png
    make.frames(root / "training" / "frames" / "a", len(names), names=names)
    v = open_dataset(root).train[0]
    assert [p.stem for p in v.frame_paths] == names  # 9 before 10
    frames = v.frames(channels=1)
    assert frames[:, 0, 0, 0].tolist() == [20 + 8 * i for i in range(12)]


def test_training_only_dataset_has_no_labels(tmp_path, make):
    make.frames(tmp_path / "training" / "frames" / "x", 3)
    ds = open_dataset(tmp_path)
    assert ds.test == [] and ds.label_source is None
    assert ds.info()["anomalous_frames"] is None


@pytest.mark.parametrize("give", ["parent", "base"])
def test_ucsd_original_layout(tmp_path, make, give):
    make.ucsd(tmp_path)
    ds = open_dataset(tmp_path if give == "parent" else tmp_path / "UCSDped2")
    assert ds.layout == "ucsd"
    assert [v.name for v in ds.train] == ["Train001", "Train002"]
    assert [v.name for v in ds.test] == ["Test001", "Test002"]  # Test001_gt is not a video
    assert ds.label_source.endswith("UCSDped2.m")
    assert ds.test[0].labels.tolist() == [0, 1, 1, 1, 0, 0]
    assert ds.test[1].labels.tolist() == [1, 1, 0, 1, 1]
    assert ds.test[0].has_masks and not ds.test[1].has_masks
    assert ds.test[0].masks().any(axis=(1, 2)).tolist() == [0, 1, 1, 1, 0, 0]
    frames = ds.train[0].frames()  # .tif, gray -> 3 equal channels
    assert frames.shape == (5, *make.hw, 3)
    assert (frames[..., 0] == frames[..., 2]).all()


def test_several_ucsd_datasets_is_an_error(tmp_path, make):
    make.ucsd(tmp_path)
    make.frames(tmp_path / "UCSDped1" / "Train" / "Train001", 2, ext=".tif")
    with pytest.raises(DataError, match="several UCSD datasets"):
        open_dataset(tmp_path)


def test_avenue_layout(tmp_path, make):
    make.avenue(tmp_path)
    ds = open_dataset(tmp_path)
    assert ds.layout == "avenue"
    assert [v.num_frames for v in ds.train] == [5, 4]
    assert ds.test[0].frame_paths == [] and ds.test[0].source.suffix == ".avi"
    assert ds.test[0].frame_size == make.hw
    assert ds.label_source == "ground_truth_demo/testing_label_mask"
    assert ds.test[0].labels.tolist() == [0, 1, 1, 0, 0, 0]
    assert ds.test[0].masks().sum() == 2 * 4 * 6
    frames = ds.test[0].frames(size=(12, 16))
    assert frames.shape == (6, 12, 16, 3)
    # MJPG is lossy: frame i is near 20 + 8 i
    assert np.allclose(frames[:, 6, 8, 0], 20 + 8 * np.arange(6), atol=4)


def test_avenue_gt_mat_in_root_wins_over_vol_label(tmp_path, make):
    make.avenue(tmp_path)
    make.gt_mat(tmp_path / "avenue.mat", [[(5, 6)], [(1, 1)]])
    ds = open_dataset(tmp_path)
    assert ds.label_source == "avenue.mat"
    assert ds.test[0].labels.tolist() == [0, 0, 0, 0, 1, 1]


def test_shanghaitech_style_layout(tmp_path, make):
    make.avi(tmp_path / "training" / "videos" / "01_001.avi", 4)
    make.frames(tmp_path / "testing" / "frames" / "01_0014", 5, ext=".jpg")
    (tmp_path / "testing" / "test_frame_mask").mkdir(parents=True)
    np.save(tmp_path / "testing" / "test_frame_mask" / "01_0014.npy", np.array([0, 0, 1, 1, 0]))
    pixel = np.zeros((5, *make.hw), np.uint8)
    pixel[2:4, 1:3, 1:3] = 1
    (tmp_path / "testing" / "test_pixel_mask").mkdir()
    np.save(tmp_path / "testing" / "test_pixel_mask" / "01_0014.npy", pixel)
    ds = open_dataset(tmp_path)
    assert ds.train[0].name == "01_001" and ds.train[0].num_frames == 4
    assert ds.label_source == "testing/test_frame_mask"
    assert ds.test[0].labels.tolist() == [0, 0, 1, 1, 0]
    assert ds.test[0].masks().sum() == 8


# ---------------------------------------------------------------------------- errors
def test_missing_root(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        open_dataset(tmp_path / "nope")


def test_empty_root(tmp_path):
    with pytest.raises(DataError, match="folder is empty"):
        open_dataset(tmp_path)


def test_unknown_layout(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="no dataset found"):
        open_dataset(tmp_path)


def test_frames_folder_without_videos(tmp_path):
    (tmp_path / "training" / "frames").mkdir(parents=True)
    with pytest.raises(DataError, match=r"training/frames: no video folders"):
        open_dataset(tmp_path)


def test_video_folder_without_frames(tmp_path):
    (tmp_path / "training" / "frames" / "01").mkdir(parents=True)
    (tmp_path / "training" / "frames" / "01" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match=r"frames/01: no frames"):
        open_dataset(tmp_path)


def test_gap_in_frame_numbers_names_the_missing_frame(tmp_path, make):
    make.frames(tmp_path / "training" / "frames" / "01", 3, names=["000", "001", "003"])
    with pytest.raises(DataError, match=r"frames/01: frame 002 missing") as err:
        open_dataset(tmp_path)
    assert "\n" not in str(err.value)


def test_several_missing_frames(tmp_path, make):
    make.frames(tmp_path / "training" / "frames" / "01", 2, names=["1", "5"])
    with pytest.raises(DataError, match=r"frames 2, 3, 4 missing"):
        open_dataset(tmp_path)


def test_duplicate_frame_numbers(tmp_path, make):
    make.frames(tmp_path / "training" / "frames" / "01", 2, names=["1", "01"])
    with pytest.raises(DataError, match="same number 1"):
        open_dataset(tmp_path)


def test_unreadable_video_file(tmp_path):
    (tmp_path / "training_videos").mkdir()
    (tmp_path / "training_videos" / "01.avi").write_bytes(b"not a video" * 50)
    with pytest.raises(DataError, match=r"01\.avi: cannot be read as a video"):
        open_dataset(tmp_path)


def test_events_come_from_the_manifest(quick_root):
    ds = open_dataset(quick_root)
    assert ds.events and all(e.end >= e.start for e in ds.events)
    e = ds.events[0]
    assert all(isinstance(k, int) and len(b) == 4 for k, b in e.boxes.items())

"""Every label source, the order they are tried in, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from mnad_lite.data import open_dataset
from mnad_lite.data.benchmark_labels import ranges_to_labels, read_mat_gt
from mnad_lite.errors import DataError, MNADError


@pytest.fixture
def native(tmp_path, make):
    """Native tree without labels: test videos 01 (6 frames) and 02 (7 frames)."""
    return make.native(tmp_path / "ds", labels=None, masks=False)


def write_csv(root, text):
    (root / "testing" / "labels.csv").write_text(text)


def test_ranges_to_labels_one_based_inclusive():
    assert ranges_to_labels([(2, 3)], 5, True, "x").tolist() == [0, 1, 1, 0, 0]
    assert ranges_to_labels([(2, 3)], 5, False, "x").tolist() == [0, 0, 1, 1, 0]
    with pytest.raises(DataError, match="outside frames 1..5"):
        ranges_to_labels([(4, 6)], 5, True, "x")


# ---------------------------------------------------------------------------- labels.csv
def test_labels_csv_intervals(native):
    write_csv(native, "video,start,end\n01,0,1\n01,4,5\n\n# a comment\n2,6,6\n")
    ds = open_dataset(native)
    assert ds.test[0].labels.tolist() == [1, 1, 0, 0, 1, 1]
    assert ds.test[1].labels.tolist() == [0] * 6 + [1]  # "2" names video "02"


def test_labels_csv_header_only_means_all_normal(native):
    write_csv(native, "video,start,end\n")
    assert open_dataset(native).info()["anomalous_frames"] == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("01,1,2\n", "header must be video,start,end"),
        ("video,start,end\n07,1,2\n", r"line 2: video '07' is not one of the test videos"),
        ("video,start,end\n01,a,2\n", "line 2: start and end must be integers"),
        ("video,start,end\n01,3,1\n", r"interval 3-1 is outside frames 0..5"),
        ("video,start,end\n01,2,6\n", r"interval 2-6 is outside frames 0..5"),
        ("video,start,end\n01,2\n", "expected 3 columns"),
        ("", "empty"),
    ],
)
def test_labels_csv_errors(native, text, message):
    write_csv(native, text)
    with pytest.raises(DataError, match=message) as err:
        open_dataset(native)
    assert "labels.csv" in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------------------- .mat gt
def test_mat_gt_like_the_real_ped2(native, make):
    make.gt_mat(native / "ds.mat", [[(2, 4)], [(1, 2), (6, 7)]])
    raw = scipy.io.loadmat(str(native / "ds.mat"))["gt"]
    assert raw.shape == (1, 2) and raw.dtype == object and raw[0, 0].dtype == np.uint8
    ds = open_dataset(native)
    assert ds.label_source == "ds.mat"
    assert ds.test[0].labels.tolist() == [0, 1, 1, 1, 0, 0]
    assert ds.test[1].labels.tolist() == [1, 1, 0, 0, 0, 1, 1]


def test_mat_gt_numeric_array(tmp_path):
    path = tmp_path / "g.mat"
    scipy.io.savemat(str(path), {"gt": np.array([[[2], [3]], [[1], [1]]])})  # (V, 2, K)
    labels = read_mat_gt(path, ["a", "b"], [4, 2])
    assert [lab.tolist() for lab in labels] == [[0, 1, 1, 0], [1, 0]]


def test_mat_without_gt(native):
    scipy.io.savemat(str(native / "other.mat"), {"scores": np.zeros(3)})
    with pytest.raises(DataError, match=r"other\.mat: no variable 'gt'.*scores"):
        open_dataset(native)


def test_mat_gt_count_mismatch(native, make):
    make.gt_mat(native / "ds.mat", [[(2, 4)]])
    with pytest.raises(DataError, match="gt has 1 entries but there are 2 test videos"):
        open_dataset(native)


def test_mat_gt_range_past_the_end(native, make):
    make.gt_mat(native / "ds.mat", [[(2, 9)], [(1, 1)]])
    with pytest.raises(DataError, match=r"gt of video 01: range 2-9 is outside frames 1..6"):
        open_dataset(native)


def test_not_a_mat_file(native):
    (native / "broken.mat").write_bytes(b"\x00garbage" * 20)
    with pytest.raises(DataError, match=r"broken\.mat: not a readable MATLAB"):
        open_dataset(native)


# ---------------------------------------------------------------------------- UCSD .m
def test_ucsd_m_in_native_root(native):
    (native / "UCSDx.m").write_text(
        "TestVideoFile{end+1}.gt_frame = [2:3];\nTestVideoFile{end+1}.gt_frame = [1:2, 7];\n"
    )
    ds = open_dataset(native)
    assert ds.label_source == "UCSDx.m"
    assert ds.test[1].labels.tolist() == [1, 1, 0, 0, 0, 0, 1]


def test_m_file_without_gt_frame_is_ignored(native):
    (native / "script.m").write_text("disp('hello')\n")
    assert open_dataset(native).label_source is None


# ---------------------------------------------------------------------------- .npy
@pytest.mark.parametrize("shape", [(13,), (1, 13)])
def test_frame_labels_npy(native, shape):
    arr = np.zeros(13, np.int64)
    arr[[1, 2, 12]] = 1
    np.save(native / "frame_labels_ds.npy", arr.reshape(shape))
    ds = open_dataset(native)
    assert ds.label_source == "frame_labels_ds.npy"
    assert ds.test[0].labels.tolist() == [0, 1, 1, 0, 0, 0]
    assert ds.test[1].labels.tolist() == [0] * 6 + [1]


def test_frame_labels_npy_length_mismatch(native):
    np.save(native / "frame_labels_ds.npy", np.zeros((1, 12)))
    with pytest.raises(DataError, match=r"frame_labels_ds\.npy: 12 labels .* 13 frames"):
        open_dataset(native)


def test_frame_labels_npy_not_binary(native):
    np.save(native / "frame_labels_ds.npy", np.full(13, 0.5))
    with pytest.raises(DataError, match="must be 0 or 1"):
        open_dataset(native)


def test_test_frame_mask_length_mismatch(native):
    folder = native / "testing" / "test_frame_mask"
    folder.mkdir()
    np.save(folder / "01.npy", np.zeros(6))
    np.save(folder / "02.npy", np.zeros(5))
    with pytest.raises(DataError, match=r"02\.npy: 5 labels but video 02 has 7 frames"):
        open_dataset(native)


def test_test_frame_mask_missing_file(native):
    folder = native / "testing" / "test_frame_mask"
    folder.mkdir()
    np.save(folder / "01.npy", np.zeros(6))
    with pytest.raises(DataError, match=r"02\.npy: missing"):
        open_dataset(native)


# ---------------------------------------------------------------------------- priority
def test_priority_csv_then_mat_then_m_then_npy(native, make):
    np.save(native / "frame_labels_ds.npy", np.ones(13))
    assert open_dataset(native).label_source == "frame_labels_ds.npy"
    (native / "UCSDx.m").write_text("a.gt_frame = [1:1];\nb.gt_frame = [1:1];\n")
    assert open_dataset(native).label_source == "UCSDx.m"
    make.gt_mat(native / "ds.mat", [[(2, 4)], [(1, 1)]])
    assert open_dataset(native).label_source == "ds.mat"
    write_csv(native, "video,start,end\n")
    assert open_dataset(native).label_source == "testing/labels.csv"


def test_errors_are_value_errors():
    assert issubclass(DataError, MNADError) and issubclass(DataError, ValueError)
